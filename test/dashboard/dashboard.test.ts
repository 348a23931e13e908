/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core): a broker with
 * an admin token and a WebSocket listener, a client the test connects, traffic the test makes,
 * and what the operator sees and does through the UI. On failure, screenshots of the main views
 * go to a temp dir whose path is printed.
 */
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting } from '../helpers/clients.js';
import { announceSkip } from '../helpers/peers.js';
import { openBrowserPage, screenshotOnFailure, type BrowserPage } from './browser-page.js';
import { hasChromium } from './browser.js';

announceSkip(hasChromium, 'the dashboard browser tests', 'chromium');

const TOKEN = 'browser-test-token-0123456789';
/** Per test: above the 20 s waits inside, for a loaded two-core machine. */
const BROWSER_TEST_TIMEOUT_MS = 60_000;
const VIEWS = ['overview', 'clients', 'sessions', 'topics', 'retained', 'bridges', 'console'];

describe.skipIf(!hasChromium)('the dashboard in Chromium', () => {
  let tb: TestBroker;
  let browser: BrowserPage;
  let page: Page;
  let base: string;
  /** Every admin API answer the page got, to prove no data reached it without the token. */
  const apiAnswers: Array<{ url: string; status: number }> = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    tb = await startBroker(
      {
        listeners: [
          { type: 'mqtt', host: '127.0.0.1', port: 0 },
          { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
        ],
        http: { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN },
      },
      {
        // The console is a client like any other: the ACL keeps it out of forbidden/.
        authorizer: {
          canPublish: (client, topic) => !(client.clientId.startsWith('midge-dashboard-') && topic.startsWith('forbidden/')),
          canSubscribe: (client, filter) => !(client.clientId.startsWith('midge-dashboard-') && filter.startsWith('forbidden/')),
        },
      },
    );
    base = `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}/dashboard/`;
    browser = await openBrowserPage('midge-chromium-');
    page = browser.page;
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    page.on('response', (response) => {
      if (response.url().includes('/api/v1/')) apiAnswers.push({ url: response.url(), status: response.status() });
    });
  }, 60_000);

  afterAll(async () => {
    await closeAllClients();
    await browser?.close();
    await tb?.cleanup();
  });

  /** On failure: the page, then one screenshot per view, to a temp dir named on stderr. */
  function screenshotsOnFailure(): void {
    screenshotOnFailure(page, 'dashboard', async (dir) => {
      for (const view of VIEWS) {
        await page.goto(`${base}#/${view}`).catch(() => undefined);
        await page.waitForTimeout(800); // a screenshot for a person to read: let the view settle
        await page.screenshot({ path: path.join(dir, `${view}.png`), fullPage: true }).catch(() => undefined);
      }
    });
  }

  it('without the token, or with a wrong one, shows the login form and never data', async () => {
    screenshotsOnFailure();
    await connectClient(tb.url, { clientId: 'hidden-before-login' });
    await page.goto(base);
    await expect(page.locator('#login-form')).toBeVisibleSoon();
    await page.fill('#login-token', 'wrong-token-but-long-enough');
    await page.click('#login-form button[type=submit]');
    await expect(page.getByRole('alert')).toHaveTextSoon('That token was refused.');
    expect(await page.locator('#login-form').isVisible()).toBe(true);
    expect(await page.content()).not.toContain('hidden-before-login');
    expect(apiAnswers.length).toBeGreaterThan(0);
    expect(apiAnswers.filter((a) => a.status !== 401)).toEqual([]);
    // The shell itself is served with a strict CSP and no token.
    const shell = await fetch(base);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('content-security-policy')).toMatch(/default-src 'self'; script-src 'self'/);
  }, BROWSER_TEST_TIMEOUT_MS);

  it('after login, a client the test connects appears in the clients view with its id', async () => {
    screenshotsOnFailure();
    await page.fill('#login-token', TOKEN);
    await page.click('#login-form button[type=submit]');
    await expect(page.locator('#chart-messages')).toBeVisibleSoon();
    expect(page.url()).not.toContain(TOKEN); // the token never goes into the URL
    await connectClient(tb.url, { clientId: 'dash-client-1', username: 'sensor-user' });
    await page.click('nav >> text=Clients');
    const row = page.locator('tr[data-client-id="dash-client-1"]');
    await expect(row).toBeVisibleSoon();
    expect(await row.textContent()).toContain('MQTT 3.1.1');
    expect(await row.textContent()).toContain('sensor-user');
  }, BROWSER_TEST_TIMEOUT_MS);

  it('the message-rate chart moves while the test publishes', async () => {
    screenshotsOnFailure();
    await page.click('nav >> text=Overview');
    const chart = page.locator('#chart-messages');
    await expect(chart).toBeVisibleSoon();
    // uPlot draws its canvas once the first stats arrive; on a busy machine that is after the frame.
    await page.waitForSelector('#chart-messages canvas', { timeout: 20_000 });
    const canvasBefore = await page.$eval('#chart-messages canvas', (c) => (c as unknown as { toDataURL(): string }).toDataURL());
    const publisher = await connectClient(tb.url, { clientId: 'dash-publisher' });
    const publishing = setInterval(() => void publisher.publishAsync('rates/t', 'x').catch(() => undefined), 10);
    try {
      await expect.poll(async () => Number(await chart.getAttribute('data-last-0')), { timeout: 20_000 }).toBeGreaterThan(0);
      await expect.poll(() => page.$eval('#chart-messages canvas', (c) => (c as unknown as { toDataURL(): string }).toDataURL()), { timeout: 10_000 }).not.toBe(canvasBefore);
    } finally {
      clearInterval(publishing);
    }
  }, BROWSER_TEST_TIMEOUT_MS);

  it('disconnects a client from the UI', async () => {
    screenshotsOnFailure();
    const victim = await connectClient(tb.url, { clientId: 'dash-victim' });
    const closed = new Promise<void>((resolve) => victim.once('close', () => resolve()));
    await page.click('nav >> text=Clients');
    await expect(page.locator('tr[data-client-id="dash-victim"]')).toBeVisibleSoon();
    await page.getByRole('button', { name: 'Disconnect dash-victim', exact: true }).click();
    await page.getByRole('button', { name: 'Really disconnect dash-victim', exact: true }).click();
    await closed;
    await expect(page.locator('tr[data-client-id="dash-victim"]')).toBeGoneSoon();
    expect(tb.broker.admin.isConnected('dash-victim')).toBe(false);
  }, BROWSER_TEST_TIMEOUT_MS);

  it('shows a persistent session falling behind, and discards it from the UI', async () => {
    screenshotsOnFailure();
    const sleeper = await connectClient(tb.url, { clientId: 'dash-sleeper', clean: false });
    await sleeper.subscribeAsync('sleep/#', { qos: 1 });
    await sleeper.endAsync();
    const pub = await connectClient(tb.url, { clientId: 'dash-waker' });
    for (let i = 0; i < 3; i++) await pub.publishAsync(`sleep/${i}`, 'zzz', { qos: 1 });
    await page.keyboard.press('3'); // keys 1–7 switch views
    const row = page.locator('tr[data-client-id="dash-sleeper"]');
    await expect(row).toHaveTextSoon('offline since');
    expect(await row.locator('td').nth(4).textContent()).toBe('3'); // queued
    await page.getByRole('button', { name: 'Discard dash-sleeper', exact: true }).click();
    await page.getByRole('button', { name: 'Really discard dash-sleeper', exact: true }).click();
    await expect(row).toBeGoneSoon();
    expect(tb.broker.admin.session('dash-sleeper')).toBeUndefined();
  }, BROWSER_TEST_TIMEOUT_MS);

  it('shows subscriptions as a topic tree, expanded level by level', async () => {
    screenshotsOnFailure();
    const watcher = await connectClient(tb.url, { clientId: 'dash-watcher' });
    await watcher.subscribeAsync('plant/line-1/temperature');
    await page.keyboard.press('4');
    await page.getByRole('button', { name: 'Expand plant', exact: true }).click();
    await page.getByRole('button', { name: 'Expand plant/line-1', exact: true }).click();
    await page.getByRole('button', { name: 'temperature', exact: true }).click();
    await expect(page.locator('.panel')).toHaveTextSoon('dash-watcher');
  }, BROWSER_TEST_TIMEOUT_MS);

  it('deletes a retained message from the UI', async () => {
    screenshotsOnFailure();
    const pub = await connectClient(tb.url, { clientId: 'dash-retainer' });
    await pub.publishAsync('dash/retained/one', '{"kept":true}', { retain: true, qos: 1 });
    await pub.publishAsync('dash/retained/two', 'stays', { retain: true, qos: 1 });
    await page.click('nav >> text=Retained');
    await page.getByRole('button', { name: 'dash/retained/one', exact: true }).click();
    await expect(page.locator('#payload-view')).toHaveTextSoon('{\n  "kept": true\n}');
    await page.getByRole('button', { name: 'Delete dash/retained/one', exact: true }).click();
    await page.getByRole('button', { name: 'Really delete dash/retained/one', exact: true }).click();
    await expect(page.locator('tr[data-topic="dash/retained/one"]')).toBeGoneSoon();
    expect(tb.broker.admin.retained('dash/retained/one')).toBeUndefined();
    expect(tb.broker.admin.retained('dash/retained/two')).toBeDefined();
  }, BROWSER_TEST_TIMEOUT_MS);

  it('publishes from the console, over the WebSocket listener, to a subscriber the test holds — within the ACL', async () => {
    screenshotsOnFailure();
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'dash-listener' });
    await client.subscribeAsync(['console/out', 'forbidden/#'], { qos: 1 });
    await page.click('nav >> text=Console');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await expect(page.locator('#console-status')).toHaveTextSoon(/^connected as anonymous/);
    // Refused by the ACL: the broker answers PUBACK 0x87 and the message goes nowhere.
    await page.fill('#console-pub-topic', 'forbidden/x');
    await page.fill('#console-pub-payload', 'must not arrive');
    await page.selectOption('#console-pub-qos', '1');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await expect(page.locator('#console-pub-status')).toHaveTextSoon('refused');
    await page.fill('#console-pub-topic', 'console/out');
    await page.fill('#console-pub-payload', 'hello from the dashboard');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    const [message] = await collector.waitFor(1, 15_000);
    expect(message!.topic).toBe('console/out');
    expect(message!.payload).toBe('hello from the dashboard');
    expect(collector.messages).toHaveLength(1); // the refused one, sent before, never arrived
    await expect(page.locator('#console-pub-status')).toHaveTextSoon('published to console/out (acknowledged)');

    // Subscribing: allowed filters deliver into the message list; forbidden ones are refused.
    await page.fill('#console-filter', 'forbidden/#');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await expect(page.locator('#console-sub-status')).toHaveTextSoon('subscription to forbidden/# refused');
    await page.fill('#console-filter', 'console/in');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await expect(page.getByRole('button', { name: 'Unsubscribe console/in', exact: true })).toBeVisibleSoon();
    await client.publishAsync('console/in', 'to the operator', { qos: 1 });
    await expect(page.locator('#console-messages')).toHaveTextSoon('to the operator');
    expect(cspViolations).toEqual([]);
  }, BROWSER_TEST_TIMEOUT_MS);
});

// --- waiting on the page without sleeps ----------------------------------------------------

interface Waitable {
  isVisible(): Promise<boolean>;
  count(): Promise<number>;
  textContent(): Promise<string | null>;
}

expect.extend({
  async toBeVisibleSoon(locator: Waitable) {
    try {
      await expect.poll(() => locator.isVisible(), { timeout: 20_000, interval: 100 }).toBe(true);
      return { pass: true, message: () => 'visible' };
    } catch {
      return { pass: false, message: () => 'not visible within 20 s' };
    }
  },
  async toBeGoneSoon(locator: Waitable) {
    try {
      await expect.poll(() => locator.count(), { timeout: 20_000, interval: 100 }).toBe(0);
      return { pass: true, message: () => 'gone' };
    } catch {
      return { pass: false, message: () => 'still there after 20 s' };
    }
  },
  async toHaveTextSoon(locator: Waitable, expected: string | RegExp) {
    let last: string | null = null;
    try {
      await expect
        .poll(async () => {
          last = await locator.textContent().catch(() => null);
          return last !== null && (typeof expected === 'string' ? last.includes(expected) : expected.test(last));
        }, { timeout: 20_000, interval: 100 })
        .toBe(true);
      return { pass: true, message: () => 'has the text' };
    } catch {
      return { pass: false, message: () => `expected text ${String(expected)}, last saw ${JSON.stringify(last)}` };
    }
  },
});

declare module 'vitest' {
  interface Assertion<T> {
    toBeVisibleSoon(): Promise<T>;
    toBeGoneSoon(): Promise<T>;
    toHaveTextSoon(expected: string | RegExp): Promise<T>;
  }
}
