/**
 * What every browser test file does around Chromium (browser.ts, which scripts use too, stays free
 * of vitest): open one page in a temp profile, screenshot it to a temp dir named on stderr when a
 * test fails, close and remove the profile at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { onTestFailed } from 'vitest';
import { launchChromium } from './browser.js';

/** One Chromium with one page, in a temp profile that `close` removes. */
export interface BrowserPage {
  readonly context: BrowserContext;
  readonly page: Page;
  close(): Promise<void>;
}

export async function openBrowserPage(profilePrefix: string): Promise<BrowserPage> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), profilePrefix));
  const context = await launchChromium(userDataDir);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Call at the start of a test: if it fails, the page as it was goes to `at-failure.png` in a
 * fresh temp dir, then `more` may add its own shots there; the dir is named on stderr.
 */
export function screenshotOnFailure(page: Page, name: string, more?: (dir: string) => Promise<void>): void {
  onTestFailed(async () => {
    const dir = await mkdtemp(path.join(tmpdir(), `midge-${name}-failure-`));
    await page.screenshot({ path: path.join(dir, 'at-failure.png'), fullPage: true }).catch(() => undefined);
    await more?.(dir);
    process.stderr.write(`${name} test failed: screenshots in ${dir}\n`);
  });
}
