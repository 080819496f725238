import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright-core';
import { findBrowser } from './browser.js';
import { closeWhenFileEnds } from './fixtures.js';

/** Flags for headless Chromium as root on a machine with no outside network (docs/facts.md). */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * A headless Chromium (found or installed by ./browser.ts — first, so a missing browser fails at
 * once with its one line) and `html` served from its own origin (another origin than the API's,
 * so CORS is exercised). Both close when the test file ends, after the apps started later.
 */
export async function browserWithPage(html: string): Promise<{ browser: Browser; pageOrigin: string }> {
  const executablePath = await findBrowser();
  const page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
  closeWhenFileEnds(() => new Promise<void>((resolve) => page.close(() => resolve())));
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  closeWhenFileEnds(() => browser.close());
  return { browser, pageOrigin: `http://127.0.0.1:${(page.address() as AddressInfo).port}` };
}
