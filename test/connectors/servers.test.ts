/**
 * The real-server harness itself: each backend starts on a free loopback port in a temp dir,
 * answers a client, survives a stop/start on the same data, and is gone after destroy().
 */
import { afterAll, describe, expect, it } from 'vitest';
import { announceSkip } from '../helpers/peers.js';
import { isAlive, PostgresServer, RabbitServer, RedisServer, serverPackages, type TestServer } from '../helpers/servers.js';

/** Gone, or a zombie its parent has not reaped yet. */
const isGone = (pid: number): boolean => !isAlive(pid);

const started: TestServer[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.destroy()));
});

announceSkip(serverPackages.rabbitmq.isAvailable, 'the RabbitMQ harness test', serverPackages.rabbitmq.debianPackage);
announceSkip(serverPackages.postgres.isAvailable, 'the PostgreSQL harness test', serverPackages.postgres.debianPackage);
announceSkip(serverPackages.redis.isAvailable, 'the Redis harness test', serverPackages.redis.debianPackage);

describe('test servers', () => {
  it.skipIf(!serverPackages.rabbitmq.isAvailable)('RabbitMQ: a durable queue keeps a persistent message across a restart', async () => {
    const amqp = await import('amqplib');
    const server = await RabbitServer.create();
    started.push(server);
    let connection = await amqp.connect(server.url);
    let channel = await connection.createConfirmChannel();
    await channel.assertQueue('harness', { durable: true });
    channel.sendToQueue('harness', Buffer.from('kept'), { persistent: true });
    await channel.waitForConfirms();
    await connection.close();
    const firstPid = server.pid;
    await server.stopProcess();
    expect(isGone(firstPid)).toBe(true);
    await server.start();
    connection = await amqp.connect(server.url);
    channel = await connection.createConfirmChannel();
    const message = await channel.get('harness', { noAck: true });
    expect(message && message.content.toString()).toBe('kept');
    await connection.close();
  }, 180_000);

  it.skipIf(!serverPackages.postgres.isAvailable)('PostgreSQL: a committed row survives kill -9 and a restart', async () => {
    const { default: pg } = await import('pg');
    const server = await PostgresServer.create();
    started.push(server);
    let client = new pg.Client({ connectionString: server.url });
    await client.connect();
    await client.query('CREATE TABLE t (v text)');
    await client.query("INSERT INTO t VALUES ('kept')");
    await client.end();
    await server.crash();
    await server.start();
    client = new pg.Client({ connectionString: server.url });
    await client.connect();
    expect((await client.query('SELECT v FROM t')).rows).toEqual([{ v: 'kept' }]);
    await client.end();
  }, 120_000);

  it.skipIf(!serverPackages.redis.isAvailable)('Redis: answers, pauses under SIGSTOP, and keeps an appendonly write across a restart', async () => {
    const { Redis } = await import('ioredis');
    const server = await RedisServer.create();
    started.push(server);
    let redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    await redis.set('k', 'kept');
    server.pause();
    const slow = redis.get('k');
    let answered = false;
    void slow.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    server.resume();
    expect(await slow).toBe('kept');
    redis.disconnect();
    await server.stopProcess();
    await server.start();
    redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    expect(await redis.get('k')).toBe('kept');
    redis.disconnect();
  }, 60_000);
});
