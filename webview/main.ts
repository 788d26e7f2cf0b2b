// The webview UI bundle. It talks to the extension host only through typed messages (webview/protocol.ts).
export {};
