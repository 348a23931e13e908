/**
 * Connector sources without a server: the `source:` schema (defaults, errors naming the key) and
 * the record mapping (templates over a record's fields; a record that cannot be mapped is a
 * BadRecord, never a crash).
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig, type SourceMappingConfig } from '../../src/config/index.js';
import { BadRecord, RecordMapper, RecordTemplate } from '../../src/connectors/sources/index.js';
import type { SourceRecord } from '../../src/connectors/index.js';

const record = (fields: Record<string, unknown>, payload = '{"device":"d1","n":7,"nested":{"ttl":60}}'): SourceRecord => ({
  id: '42',
  fields,
  payload: Buffer.from(payload),
  isRedelivered: false,
});

function mapping(overrides: Partial<SourceMappingConfig>): SourceMappingConfig {
  const config = resolveConfig({ connectors: [{ name: 'm', type: 'amqp', url: 'amqp://127.0.0.1:1', source: { queue: 'q', topic: 'x', ...overrides } as never }] });
  return config.connectors[0]!.source!;
}

describe('connector source configuration', () => {
  it('fills in the defaults: qos 1, dead-letter on no subscriber and bad records, $dlq/<name>, a stable Redis consumer name', () => {
    const config = resolveConfig({
      connectors: [
        { name: 'rabbit', type: 'amqp', url: 'amqp://127.0.0.1:1', source: { queue: 'cmds', topic: 'cmd/${headers.device}' } },
        { name: 'stream', type: 'redis-stream', url: 'redis://127.0.0.1:1', source: { stream: 'cmds', topic: 'cmd/${device}' } },
        { name: 'outbox', type: 'postgres', url: 'postgres://127.0.0.1:1/x', source: { table: 'public.outbox', topic: 'cmd/${device}' } },
      ],
    });
    expect(config.connectors[0]).toMatchObject({
      source: { qos: 1, retain: false, onNoSubscriber: 'dead-letter', onBadRecord: 'dead-letter', prefetch: 32, assertQueue: false, requeueDelayMs: 5000 },
      delivery: { deadLetterTopic: '$dlq/rabbit' },
    });
    expect(config.connectors[0]!.sink).toBeUndefined();
    expect(config.connectors[1]!.source).toMatchObject({ group: 'midge', consumer: 'midge-stream', batchSize: 100, claimIdleMs: 60_000 });
    expect(config.connectors[2]!.source).toMatchObject({ idColumn: 'id', onDone: 'delete', doneColumn: 'done_at', pollMs: 1000 });
  });

  it.each([
    [{ name: 'n', type: 'amqp', url: 'amqp://x' }, 'connectors[0].sink: a connector needs a sink, a source or both'],
    [{ name: 'n', type: 'amqp', url: 'amqp://x', source: { queue: 'q' } }, 'connectors[0].source.topic'],
    [{ name: 'n', type: 'amqp', url: 'amqp://x', source: { queue: 'q', topic: 't', onNoSubscriber: 'drop' } }, 'connectors[0].source.onNoSubscriber'],
    [{ name: 'n', type: 'postgres', url: 'postgres://x', source: { table: 'outbox; DROP TABLE x', topic: 't' } }, 'connectors[0].source.table'],
    [{ name: 'n', type: 'postgres', url: 'postgres://x', source: { table: 'outbox', idColumn: 'id"', topic: 't' } }, 'connectors[0].source.idColumn'],
    [{ name: 'n', type: 'redis-stream', url: 'redis://x', source: { stream: 's', topic: 't', prefetch: 3 } }, 'connectors[0].source.prefetch: unknown key'],
    [{ name: 'n', type: 'http', url: 'http://x', sink: { topics: ['a'] }, source: { topic: 't' } }, 'connectors[0].source: an http connector has no source'],
  ])('rejects %j naming %s', (connector, key) => {
    expect(() => resolveConfig({ connectors: [connector as never] })).toThrow(key);
  });
});

describe('record mapping', () => {
  it('renders fields, nested fields, flat dotted names, the JSON payload and filters', () => {
    const r = record({ routingKey: 'devices.d1.cmd', headers: { device: 'd1' }, 'a.b': 'flat' });
    expect(new RecordTemplate('${routingKey|slashes}').render(r)).toBe('devices/d1/cmd');
    expect(new RecordTemplate('cmd/${headers.device}').render(r)).toBe('cmd/d1');
    expect(new RecordTemplate('${a.b}').render(r)).toBe('flat');
    expect(new RecordTemplate('${json.device}/${json.nested.ttl}/${id}').render(r)).toBe('d1/60/42');
    expect(new RecordTemplate('${json.nested}').render(r)).toBe('{"ttl":60}');
    expect(() => new RecordTemplate('${x|nope}')).toThrow('unknown filter |nope');
  });

  it('maps topic, payload, qos, retain, expiry and user properties; the expiry counts from when Midge takes the record', () => {
    const mapper = new RecordMapper(mapping({ topic: 'cmd/${json.device}', payload: '${json.n}', qos: 2, retain: true, expirySeconds: '${json.nested.ttl}', userProperties: { from: '${id}' } }));
    expect(mapper.map(record({}), 1_000)).toEqual({
      topic: 'cmd/d1',
      payload: Buffer.from('7'),
      qos: 2,
      retain: true,
      properties: { messageExpiryInterval: 60, userProperties: { from: '42' } },
      expiresAt: 61_000,
    });
    // No payload template: the record's own payload, as it came.
    expect(new RecordMapper(mapping({ topic: 'c' })).map(record({}, 'raw\u0000bytes'), 0).payload).toEqual(Buffer.from('raw\u0000bytes'));
    expect(new RecordMapper(mapping({ topic: 'c', payload: '${b64}', payloadEncoding: 'base64' })).map(record({ b64: 'AAEC' }), 0).payload).toEqual(Buffer.from([0, 1, 2]));
  });

  it.each([
    ['cmd/${device}', {}, 'no field device'],
    ['cmd/${json.missing}', {}, 'no field json.missing'],
    ['cmd/${t}', { t: '+' }, 'topic is not a plain topic name'],
    ['${t}', { t: '$SYS/x' }, 'topic is not a plain topic name'],
  ])('topic %s with %j is a bad record (%s)', (topic, fields, reason) => {
    const mapper = new RecordMapper(mapping({ topic }));
    expect(() => mapper.map(record(fields), 0)).toThrow(BadRecord);
    expect(() => mapper.map(record(fields), 0)).toThrow(reason);
  });

  it('an expiry that is not a whole number of seconds is a bad record', () => {
    const mapper = new RecordMapper(mapping({ topic: 'c', expirySeconds: '${ttl}' }));
    for (const ttl of ['soon', '0', '1.5', '-3']) expect(() => mapper.map(record({ ttl }), 0), ttl).toThrow('expiry is not a whole number');
  });
});
