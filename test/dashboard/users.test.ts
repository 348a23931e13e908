/**
 * The dashboard's Users view in a real browser (Debian's chromium, driven by playwright-core)
 * against a broker whose auth chain is the built-in user store: what the operator does in the UI
 * reaches MQTT clients (create → connect; disable → disconnected with DISCONNECT 0x87
 * [5.0 MQTT-3.14.2-1] and refused with CONNACK 0x8A [5.0 MQTT-3.2.2-7]) and the admin API (role
 * changes, role rules). The API's refusals (409, 400) show with their reason, a password hash
 * never reaches the page, and a broker without a user store says so.
 */
import type { IDisconnectPacket } from 'mqtt-packet';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryConnect } from '../auth/helpers.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient } from '../helpers/clients.js';
import { announceSkip } from '../helpers/peers.js';
import { openBrowserPage, screenshotOnFailure as screenshotPageOnFailure, type BrowserPage } from './browser-page.js';
import { hasChromium } from './browser.js';

announceSkip(hasChromium, 'the dashboard Users view browser tests', 'chromium');

const TOKEN = 'users-view-test-token-0123456789';
/** Per test: above the 20 s waits inside, for a loaded two-core machine. */
const BROWSER_TEST_TIMEOUT_MS = 60_000;
const WAIT = { timeout: 20_000, interval: 100 };

/** Waits (without sleeping) until the locator's text has `expected`. */
async function textSoon(locator: Locator, expected: string | RegExp): Promise<void> {
  await expect
    .poll(async () => {
      const text = (await locator.textContent({ timeout: 1000 }).catch(() => null)) ?? '';
      return typeof expected === 'string' ? text.includes(expected) : expected.test(text);
    }, WAIT)
    .toBe(true);
}

describe.skipIf(!hasChromium)('the dashboard Users view in Chromium', () => {
  let tb: TestBroker;
  let browser: BrowserPage;
  let page: Page;
  let apiBase: string;

  const api = async (method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${apiBase}${route}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: await response.json() };
  };
  const outcome = (): Locator => page.locator('#users-outcome');
  const userRow = (name: string): Locator => page.locator(`#users-table tr[data-username="${name}"]`);

  beforeAll(async () => {
    tb = await startBroker({
      http: { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN },
      auth: { chain: [{ type: 'users' }], authorization: { noMatch: 'deny' }, users: { iterations: 100 } },
    });
    apiBase = `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}`;
    browser = await openBrowserPage('midge-chromium-users-');
    page = browser.page;
    await page.goto(`${apiBase}/dashboard/`);
    await page.fill('#login-token', TOKEN);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#chart-messages', { timeout: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await closeAllClients();
    await browser?.close();
    await tb?.cleanup();
  });

  const screenshotOnFailure = (): void => screenshotPageOnFailure(page, 'dashboard-users');

  it('key 8 opens the view; a role written in the UI is in the API; a user created in the UI connects over MQTT', async () => {
    screenshotOnFailure();
    await page.keyboard.press('8');
    await page.waitForSelector('#user-create-form', { timeout: 20_000 });
    expect(await page.title()).toBe('Users · Midge');

    await page.fill('#role-name', 'sensor');
    await page.fill('#role-rules', 'allow all devices/%u/#\ndeny publish devices/%u/locked');
    await page.getByRole('button', { name: 'Save role', exact: true }).click();
    await textSoon(page.locator('#roles-table tr[data-role="sensor"]'), 'deny publish devices/%u/locked');
    expect((await api('GET', '/api/v1/roles')).body).toEqual([
      {
        name: 'sensor',
        acl: [
          { permission: 'allow', action: 'all', topic: 'devices/%u/#' },
          { permission: 'deny', action: 'publish', topic: 'devices/%u/locked' },
        ],
      },
    ]);

    await page.fill('#user-create-name', 'ui-dev');
    await page.fill('#user-create-password', 'ui-pass-1');
    await page.fill('#user-create-roles', 'sensor');
    await page.getByRole('button', { name: 'Create user', exact: true }).click();
    await textSoon(userRow('ui-dev'), 'enabled');
    expect(await userRow('ui-dev').locator('td').nth(1).textContent()).toBe('sensor');
    await textSoon(outcome(), 'User ui-dev created.');
    expect(await page.inputValue('#user-create-password')).toBe(''); // the password does not linger in the form

    const device = await connectClient(tb.url, { clientId: 'ui-dev-1', username: 'ui-dev', password: 'ui-pass-1', protocolVersion: 5 });
    const granted = await device.subscribeAsync('devices/ui-dev/#', { qos: 1 });
    expect(granted[0]!.qos).toBe(1); // the role created in the UI grants it
    // No rule matches: authorization.noMatch is deny, SUBACK 0x87 [5.0 MQTT-3.8.4-7].
    await expect(device.subscribeAsync('other/#', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x87] } });
    // The role's deny rule, written in the UI, wins over its allow.
    await expect(device.publishAsync('devices/ui-dev/locked', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await device.endAsync();
    expect((await tryConnect(tb.url, { clientId: 'ui-dev-x', username: 'ui-dev', password: 'wrong', protocolVersion: 5 })).code).toBe(0x86);

    // The API never sends a hash, so the page holds none.
    expect(await page.content()).not.toContain('$7$');
  }, BROWSER_TEST_TIMEOUT_MS);

  it("shows the API's refusals with status and reason: 409 for an existing user, 400 for a bad name", async () => {
    screenshotOnFailure();
    await page.fill('#user-create-name', 'ui-dev');
    await page.fill('#user-create-password', 'another');
    await page.getByRole('button', { name: 'Create user', exact: true }).click();
    await textSoon(page.getByRole('alert'), 'Creating ui-dev failed (409): user ui-dev exists');
    await page.fill('#user-create-name', 'bad/name');
    await page.fill('#user-create-password', 'another');
    await page.getByRole('button', { name: 'Create user', exact: true }).click();
    await textSoon(page.getByRole('alert'), /Creating bad\/name failed \(400\): username must be 1–256 characters/);
    // A rule line the UI cannot read is refused before any call.
    await page.fill('#role-name', 'broken');
    await page.fill('#role-rules', 'permit everything');
    await page.getByRole('button', { name: 'Save role', exact: true }).click();
    await textSoon(page.locator('#role-form [role=alert]'), 'line 1: write');
    expect((await api('GET', '/api/v1/roles')).body.map((r: { name: string }) => r.name)).toEqual(['sensor']);
    expect((await api('GET', '/api/v1/users')).body.map((u: { username: string }) => u.username)).toEqual(['ui-dev']);
  }, BROWSER_TEST_TIMEOUT_MS);

  it('a role change and a role edit made in the UI show in the API; deleting a role in the UI removes it', async () => {
    screenshotOnFailure();
    await page.getByRole('button', { name: 'Edit ui-dev', exact: true }).click();
    await page.fill('#user-edit-roles', 'sensor, operator');
    await page.fill('#user-edit-groups', 'plant-a');
    await page.getByRole('button', { name: 'Save roles', exact: true }).click();
    await textSoon(outcome(), 'Roles and groups of ui-dev saved.');
    expect((await api('GET', '/api/v1/users/ui-dev')).body).toMatchObject({ roles: ['sensor', 'operator'], groups: ['plant-a'] });
    await textSoon(userRow('ui-dev').locator('td').nth(1), 'sensor, operator');

    await page.getByRole('button', { name: 'Edit role sensor', exact: true }).click();
    expect(await page.inputValue('#role-rules')).toBe('allow all devices/%u/#\ndeny publish devices/%u/locked');
    await page.fill('#role-rules', 'allow subscribe devices/%u/in');
    await page.getByRole('button', { name: 'Save role', exact: true }).click();
    await textSoon(outcome(), 'Role sensor saved.');
    expect((await api('GET', '/api/v1/users/ui-dev')).body.acl).toEqual([{ permission: 'allow', action: 'subscribe', topic: 'devices/%u/in' }]);

    await page.fill('#role-name', 'scratch');
    await page.fill('#role-rules', 'allow publish scratch/#');
    await page.getByRole('button', { name: 'Save role', exact: true }).click();
    await page.getByRole('button', { name: 'Delete role scratch', exact: true }).click();
    await page.getByRole('button', { name: 'Really delete role scratch', exact: true }).click();
    await textSoon(outcome(), 'Role scratch deleted.');
    expect((await api('GET', '/api/v1/roles')).body.map((r: { name: string }) => r.name)).toEqual(['sensor']);
  }, BROWSER_TEST_TIMEOUT_MS);

  it('disable in the UI → the connected client gets DISCONNECT 0x87 and a reconnect is refused with 0x8A; enable, new password, delete', async () => {
    screenshotOnFailure();
    const device = await connectClient(tb.url, { clientId: 'ui-dev-2', username: 'ui-dev', password: 'ui-pass-1', protocolVersion: 5, reconnectPeriod: 0 });
    const disconnected = new Promise<IDisconnectPacket>((resolve) => device.once('disconnect', (packet) => resolve(packet)));
    await page.getByRole('button', { name: 'Disable ui-dev', exact: true }).click();
    await page.getByRole('button', { name: 'Really disable ui-dev', exact: true }).click();
    expect((await disconnected).reasonCode).toBe(0x87);
    await textSoon(userRow('ui-dev'), 'disabled');
    expect(tb.broker.admin.isConnected('ui-dev-2')).toBe(false);
    expect((await tryConnect(tb.url, { clientId: 'ui-dev-2', username: 'ui-dev', password: 'ui-pass-1', protocolVersion: 5 })).code).toBe(0x8a);
    expect((await tryConnect(tb.url, { clientId: 'ui-dev-2', username: 'ui-dev', password: 'ui-pass-1', protocolVersion: 4 })).code).toBe(5); // [3.1.1 MQTT-3.2.2-5]

    await page.getByRole('button', { name: 'Enable ui-dev', exact: true }).click();
    await textSoon(userRow('ui-dev'), 'enabled');
    await page.fill('#user-edit-password', 'ui-pass-2');
    await page.getByRole('button', { name: 'Change password', exact: true }).click();
    await textSoon(outcome(), 'Password of ui-dev changed.');
    expect((await tryConnect(tb.url, { clientId: 'ui-dev-3', username: 'ui-dev', password: 'ui-pass-1', protocolVersion: 5 })).code).toBe(0x86);
    const again = await tryConnect(tb.url, { clientId: 'ui-dev-3', username: 'ui-dev', password: 'ui-pass-2', protocolVersion: 5 });
    expect(again.code).toBe(0);
    const gone = new Promise<IDisconnectPacket>((resolve) => again.client!.once('disconnect', (packet) => resolve(packet)));

    await page.getByRole('button', { name: 'Delete ui-dev', exact: true }).click();
    await page.getByRole('button', { name: 'Really delete ui-dev', exact: true }).click();
    expect((await gone).reasonCode).toBe(0x87);
    await expect.poll(() => userRow('ui-dev').count(), WAIT).toBe(0);
    expect((await api('GET', '/api/v1/users/ui-dev')).status).toBe(404);
    expect(await page.content()).not.toContain('$7$');
  }, BROWSER_TEST_TIMEOUT_MS);

  it('a broker without a user store: the view says so, in the API’s words', async () => {
    screenshotOnFailure();
    const bare = await startBroker({ http: { enabled: true, host: '127.0.0.1', port: 0 } });
    const other = await browser.context.newPage();
    try {
      // Loopback without http.token: no login form.
      await other.goto(`http://127.0.0.1:${bare.broker.httpBoundAddress!.port}/dashboard/#/users`);
      await textSoon(other.locator('#users-no-store'), 'This broker has no user store');
      await textSoon(other.locator('#users-no-store'), 'no user store: add {type: users} to auth.chain');
      expect(await other.locator('#user-create-form').count()).toBe(0);
    } finally {
      await other.close();
      await bare.cleanup();
    }
  }, BROWSER_TEST_TIMEOUT_MS);
});
