// Types for scripts/web.mjs (used by the browser test).
import type { Server } from 'node:http';
export function bundle(): Promise<unknown>;
export function serve(port?: number, opts?: { files?: Record<string, Uint8Array>; onRequest?: (path: string) => void }): Promise<Server>;
export const browserOnly: import('esbuild').Plugin;
export function launchChromium(opts?: Record<string, unknown>): Promise<import('playwright-core').BrowserContext>;
