// Stand-in types for 'playwright-core' while e2e/tools is not installed (tsconfig `paths` falls back to this file),
// so that type-checking passes without the end-to-end tools; with them installed the real types are used.
/* eslint-disable @typescript-eslint/no-explicit-any -- stand-ins: the real types arrive with the tools */
export declare const chromium: any;
export type Browser = any;
export type Page = any;
export type FrameLocator = any;
