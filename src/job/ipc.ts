// When the CLI runs as a forked child of the extension host, it reports over IPC instead of the terminal.
import type { JobEvent } from './protocol';

export type ChildMessage =
  { kind: 'event'; event: JobEvent } | { kind: 'result'; result: unknown } | { kind: 'error'; message: string };

export const underParent = () => typeof process.send === 'function' && process.env.SUBNET_SEARCH_IPC === '1';

export function sendToParent(m: ChildMessage): void {
  process.send?.(m);
}
