/**
 * The `connectors:` configuration: defaults filled in, errors naming the key, secrets from files
 * and MIDGE_SECRET_* resolved at start and masked by --print-config, and `$connector/` client ids
 * reserved for Midge's own sessions.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromEnv, loadConfigFile, resolveConfig } from '../../src/config/index.js';
import { createSink, resolveSecrets, Template } from '../../src/connectors/index.js';
import { connectClient } from '../helpers/clients.js';
import { useBroker } from '../helpers/broker.js';
import { runCli } from '../helpers/process.js';
import { makeTempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function file(name: string, text: string): Promise<string> {
  const dir = await makeTempDir('midge-conn-config-');
  dirs.push(dir);
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('connectors configuration', () => {
  it('fills in the delivery, queue and dead-letter defaults', () => {
    const config = resolveConfig({ connectors: [{ name: 'hook', type: 'http', url: 'http://127.0.0.1:1/x', sink: { topics: ['a/#'] } }] });
    expect(config.connectors[0]).toMatchObject({
      delivery: { batchSize: 100, maxWaitMs: 20, inflight: 4, ordering: 'per-topic', deadLetterAfterAttempts: 3, deadLetterTopic: '$dlq/hook' },
      queue: { maxMessages: 1_000_000, overflow: 'drop-oldest' },
      sink: { bodyMode: 'batch', method: 'POST', storeQos0: false, pauseOn: [401, 403, 404, 407] },
    });
  });

  it.each([
    ['connectors:\n  - { name: h, type: http, url: "ftp://x", sink: { topics: [a] } }\n', 'connectors[0].url'],
    ['connectors:\n  - { name: h, type: http, url: "http://x", sink: { topics: [] } }\n', 'connectors[0].sink.topics'],
    ['connectors:\n  - { name: h, type: kafka, url: "kafka://x", sink: { topics: [a] } }\n', 'connectors[0].type'],
    ['connectors:\n  - { name: h, type: amqp, url: "amqp://x", sink: { topics: [a], exchang: e } }\n', 'connectors[0].sink.exchang: unknown key'],
    ['connectors:\n  - { name: h, type: http, url: "http://x", sink: { topics: [a] }, delivery: { batchSize: 1000, inflight: 100 } }\n', 'connectors[0].delivery.inflight'],
    ['connectors:\n  - { name: "a b", type: http, url: "http://x", sink: { topics: [a] } }\n', 'connectors[0].name'],
  ])('rejects %j naming %s', async (text, key) => {
    const p = await file('midge.yaml', text);
    expect(() => resolveConfig(loadConfigFile(p))).toThrow(key);
  });

  it('--print-config masks passwords, URL credentials and credential headers', async () => {
    const p = await file(
      'midge.yaml',
      [
        'connectors:',
        '  - { name: r, type: amqp, url: "amqp://midge:hunter2@127.0.0.1:5672", password: s3cret, sink: { topics: [a] } }',
        '  - { name: h, type: http, url: "http://127.0.0.1:9/x", sink: { topics: [a], headers: { Authorization: "Bearer tok-123", X-Api-Key: k-456, X-Device: "${topic.1}" } } }',
        '',
      ].join('\n'),
    );
    const { code, stdout } = await runCli(['--config', p, '--print-config']);
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/hunter2|s3cret|tok-123|k-456/);
    expect(stdout).toContain('amqp://midge:***@127.0.0.1:5672');
    expect(stdout).toContain('X-Device: ${topic.1}');
  });

  it('secrets come from files and MIDGE_SECRET_* variables (which are not config keys)', async () => {
    const tokenFile = await file('token', 'from-a-file\n');
    expect(resolveSecrets('Bearer ${file:' + tokenFile + '}', {}, (f) => readFileSync(f, 'utf8'))).toBe('Bearer from-a-file');
    expect(resolveSecrets('${env:MIDGE_SECRET_HOOK}', { MIDGE_SECRET_HOOK: 'from-env' }, () => '')).toBe('from-env');
    expect(() => resolveSecrets('${env:HOME}', { HOME: '/root' }, () => '')).toThrow('only MIDGE_SECRET_*');
    expect(configFromEnv({ MIDGE_SECRET_HOOK: 'x' })).toEqual({});
    // passwordFile goes into the URL the client library gets.
    const passwordFile = await file('pw', 'p@ss\n');
    const sink = await createSink(resolveConfig({ connectors: [{ name: 'r', type: 'amqp', url: 'amqp://midge@127.0.0.1:1', passwordFile, sink: { topics: ['a'] } }] }).connectors[0]!);
    expect((sink as unknown as { settings: { url: string } }).settings.url).toBe('amqp://midge:p%40ss@127.0.0.1:1');
  });

  it('templates know their placeholders; an unknown one is an error at start', () => {
    expect(() => new Template('${nope}')).toThrow('unknown placeholder');
    expect(() => new Template('${topic|shout}')).toThrow('unknown filter');
    const m = { id: 'c:7', message: { topic: 'devices/d1/temp', payload: Buffer.from('{"t":21}'), qos: 1 as const, retain: false }, retain: false, timestamp: 0, isRedelivered: false, attempts: 0, record: { seq: 7, message: undefined as never, qos: 1 as const, retain: false, state: 'sent' as const }, lane: undefined };
    expect(new Template('${topic|dots}:${topic.1}:${msgid}').render(m)).toBe('devices.d1.temp:d1:c:7');
    expect(new Template("INSERT INTO r VALUES (${msgid}, ${payload:json}, '${x')").source).toContain('${x');
    expect(new Template('INSERT INTO r VALUES (${msgid}, ${payload:json})').bind(m)).toEqual({ text: 'INSERT INTO r VALUES ($1, $2)', values: ['c:7', '{"t":21}'] });
  });
});

describe('reserved client ids', () => {
  const tb = useBroker();
  it('a device cannot take a $connector/ session [5.0 MQTT-3.1.3-8]', async () => {
    const refused = await connectClient(tb.url, { clientId: '$connector/hook', protocolVersion: 5 }).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
  });
});
