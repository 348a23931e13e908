/**
 * The built-in user store managed through the admin API, through real sockets: create → connect,
 * disable → the connected client is disconnected at once (DISCONNECT 0x87 [5.0 MQTT-3.14.2-1])
 * and refused afterwards (CONNACK 0x8A), a role change stops deliveries of the removed grant,
 * and everything survives a restart.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { IDisconnectPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, connectClient, MessageCollector } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { makeTempDir } from '../helpers/temp.js';
import { tryConnect } from './helpers.js';

describe('runtime users through the admin API', () => {
  let dataDir: string;
  let b: TestBroker;
  const options = (dir: string) => ({
    dataDir: dir,
    http: { enabled: true, port: 0 },
    auth: { chain: [{ type: 'users' as const }], authorization: { noMatch: 'deny' as const }, users: { iterations: 100 } },
  });
  const api = async (method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`http://127.0.0.1:${b.broker.httpBoundAddress!.port}${route}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: await response.json() };
  };

  beforeAll(async () => {
    dataDir = await makeTempDir('midge-users-');
    b = await startBroker(options(dataDir));
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('roles and users are created; the API never shows a hash; bad input is a 400, a duplicate a 409', async () => {
    expect((await api('PUT', '/api/v1/roles/telemetry', { acl: [{ permission: 'allow', action: 'all', topic: 'devices/%u/#' }] })).status).toBe(200);
    expect((await api('PUT', '/api/v1/roles/commands', { acl: [{ permission: 'allow', action: 'subscribe', topic: 'cmd/#' }] })).status).toBe(200);
    expect((await api('PUT', '/api/v1/roles/operator', { acl: [{ permission: 'allow', action: 'all', topic: '#' }] })).status).toBe(200);
    const created = await api('POST', '/api/v1/users', { username: 'dev-a', password: 's3cret-a', roles: ['telemetry', 'commands'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'dev-a', roles: ['telemetry', 'commands'], isDisabled: false });
    expect(JSON.stringify(created.body)).not.toContain('$7$');
    expect((await api('POST', '/api/v1/users', { username: 'ops', password: 'ops-pw-1', roles: ['operator'] })).status).toBe(201);
    expect((await api('POST', '/api/v1/users', { username: 'dev-a', password: 'again' })).status).toBe(409);
    expect((await api('POST', '/api/v1/users', { username: 'x/y', password: 'p' })).status).toBe(400);
    expect((await api('POST', '/api/v1/roles/bad', { acl: 'nope' })).status).toBe(405);
    expect((await api('PUT', '/api/v1/roles/bad', { acl: [{ action: 'fly', topic: 'a' }] })).status).toBe(400);
    // Stored as Mosquitto $7$ (salted PBKDF2-SHA512), file mode 0600.
    const file = JSON.parse(readFileSync(path.join(dataDir, 'auth', 'users.json'), 'utf8')) as { users: Record<string, { passwordHash: string }> };
    expect(file.users['dev-a']!.passwordHash).toMatch(/^\$7\$100\$/);
  });

  it('create → connect; a wrong password is refused with 0x86', async () => {
    const { code, client } = await tryConnect(b.url, { clientId: 'dev-a-1', username: 'dev-a', password: 's3cret-a', protocolVersion: 5 });
    expect(code).toBe(0);
    await client!.endAsync();
    expect((await tryConnect(b.url, { clientId: 'dev-a-1', username: 'dev-a', password: 'nope', protocolVersion: 5 })).code).toBe(0x86);
  });

  it('role change → deliveries of the removed grant stop (and its subscription is removed)', async () => {
    const device = await connectClient(b.url, { clientId: 'dev-a-2', username: 'dev-a', password: 's3cret-a', protocolVersion: 5 });
    const ops = await connectClient(b.url, { clientId: 'ops-1', username: 'ops', password: 'ops-pw-1', protocolVersion: 5 });
    const inbox = new MessageCollector(device);
    await device.subscribeAsync(['cmd/#', 'devices/dev-a/#'], { qos: 1 });
    await ops.publishAsync('cmd/reboot', 'before', { qos: 1 });
    expect((await inbox.waitFor(1)).map((m) => m.payload)).toEqual(['before']);

    const patched = await api('PATCH', '/api/v1/users/dev-a', { roles: ['telemetry'] });
    expect(patched.body.roles).toEqual(['telemetry']);
    await ops.publishAsync('cmd/reboot', 'after', { qos: 1 });
    // A marker on a topic still granted: it arrives, the command published before it does not.
    await ops.publishAsync('devices/dev-a/marker', 'marker', { qos: 1 });
    expect((await inbox.waitFor(2)).map((m) => m.payload)).toEqual(['before', 'marker']);
    expect([...b.broker.admin.session('dev-a-2')!.subscriptions.keys()]).toEqual(['devices/dev-a/#']);
  });

  it('groups: a group`s roles grant; taking the user out of the group (or the role out of the group) stops deliveries', async () => {
    expect((await api('PUT', '/api/v1/groups/plant-a', { roles: ['commands'] })).status).toBe(200);
    expect((await api('POST', '/api/v1/users', { username: 'dev-g', password: 's3cret-g', roles: ['telemetry'], groups: ['plant-a'] })).status).toBe(201);
    expect((await api('GET', '/api/v1/users/dev-g')).body.acl).toEqual([
      { permission: 'allow', action: 'all', topic: 'devices/%u/#' },
      { permission: 'allow', action: 'subscribe', topic: 'cmd/#' },
    ]);
    const device = await connectClient(b.url, { clientId: 'dev-g-1', username: 'dev-g', password: 's3cret-g', protocolVersion: 5 });
    const ops = await connectClient(b.url, { clientId: 'ops-g', username: 'ops', password: 'ops-pw-1', protocolVersion: 5 });
    const inbox = new MessageCollector(device);
    await device.subscribeAsync(['cmd/#', 'devices/dev-g/#'], { qos: 1 });
    await ops.publishAsync('cmd/start', 'via-group', { qos: 1 });
    expect((await inbox.waitFor(1)).map((m) => m.payload)).toEqual(['via-group']);
    // The group loses the role: its members lose the grant, as with a role change on the user.
    expect((await api('PUT', '/api/v1/groups/plant-a', { roles: [] })).status).toBe(200);
    await ops.publishAsync('cmd/start', 'after', { qos: 1 });
    await ops.publishAsync('devices/dev-g/marker', 'marker', { qos: 1 });
    expect((await inbox.waitFor(2)).map((m) => m.payload)).toEqual(['via-group', 'marker']);
    expect([...b.broker.admin.session('dev-g-1')!.subscriptions.keys()]).toEqual(['devices/dev-g/#']);
    expect((await api('DELETE', '/api/v1/users/dev-g')).status).toBe(200);
  });

  it('disable → the connected client is disconnected with 0x87 before the API answers, and refused with 0x8A afterwards', async () => {
    const device = await connectClient(b.url, { clientId: 'dev-a-3', username: 'dev-a', password: 's3cret-a', protocolVersion: 5 });
    const disconnected = new Promise<{ packet: IDisconnectPacket; at: number }>((resolve) => device.once('disconnect', (packet) => resolve({ packet, at: Date.now() })));
    const sentAt = Date.now();
    const answer = await api('PATCH', '/api/v1/users/dev-a', { isDisabled: true });
    expect(answer.body.isDisabled).toBe(true);
    // Closed on the broker's side by the time the change is acknowledged.
    expect(b.broker.admin.isConnected('dev-a-3')).toBe(false);
    const { packet, at } = await disconnected;
    expect(packet.reasonCode).toBe(0x87);
    process.stderr.write(`user-store: disconnect reached the client ${at - sentAt} ms after the PATCH was sent (loaded machine)\n`);
    expect((await tryConnect(b.url, { clientId: 'dev-a-3', username: 'dev-a', password: 's3cret-a', protocolVersion: 5 })).code).toBe(0x8a);
    expect((await tryConnect(b.url, { clientId: 'dev-a-3', username: 'dev-a', password: 's3cret-a', protocolVersion: 4 })).code).toBe(5);
  });

  it('persisted across a restart: users, roles and the disabled flag; delete → disconnected and refused', async () => {
    await closeAllClients();
    await b.stop();
    b = await startBroker(options(dataDir));
    expect((await api('GET', '/api/v1/users/dev-a')).body).toMatchObject({ username: 'dev-a', isDisabled: true, roles: ['telemetry'] });
    expect((await tryConnect(b.url, { clientId: 'dev-a-4', username: 'dev-a', password: 's3cret-a', protocolVersion: 5 })).code).toBe(0x8a);
    const ops = await connectClient(b.url, { clientId: 'ops-2', username: 'ops', password: 'ops-pw-1', protocolVersion: 5 });
    const gone = new Promise<IDisconnectPacket>((resolve) => ops.once('disconnect', resolve));
    expect((await api('DELETE', '/api/v1/users/ops')).status).toBe(200);
    expect((await gone).reasonCode).toBe(0x87);
    expect((await tryConnect(b.url, { clientId: 'ops-3', username: 'ops', password: 'ops-pw-1', protocolVersion: 5 })).code).toBe(0x86);
    expect((await api('GET', '/api/v1/users')).body.map((u: { username: string }) => u.username)).toEqual(['dev-a']);
  });
});
