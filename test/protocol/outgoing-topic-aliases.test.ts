/** The alias table and the aliased PUBLISH encoding, without sockets. */
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { encodePublishWithAlias, OutgoingTopicAliases } from '../../src/protocol/index.js';

function send(table: OutgoingTopicAliases, topic: string): number {
  const alias = table.lookup(topic);
  if (alias < 0) table.assign(topic, -alias);
  return alias;
}

describe('OutgoingTopicAliases', () => {
  it('[5.0 MQTT-3.3.2-8] [5.0 MQTT-3.3.2-11] hands out 1…maximum, never 0, never more', () => {
    const table = new OutgoingTopicAliases(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(Math.abs(send(table, `t/${i % 50}`)));
    seen.delete(0);
    expect([...seen].sort()).toEqual([1, 2, 3]);
    expect(table.size).toBeLessThanOrEqual(3);
  });

  it('a frequent newcomer takes the alias of the least-used entry; a one-off does not', () => {
    const table = new OutgoingTopicAliases(2);
    send(table, 'a');
    send(table, 'b');
    for (let i = 0; i < 5; i++) send(table, 'a');
    expect(send(table, 'once')).toBe(0);
    // 'c' keeps coming: after being seen more often than 'b' was used, it takes b's alias (2).
    const results = [send(table, 'c'), send(table, 'c'), send(table, 'c')];
    expect(results).toContain(-2);
    expect(send(table, 'a')).toBe(1);
  });

  it('a lookup without assign (a PUBLISH not sent) defines nothing', () => {
    const table = new OutgoingTopicAliases(2);
    expect(table.lookup('x')).toBe(-1);
    expect(table.lookup('x')).toBe(-1);
    expect(table.size).toBe(0);
  });
});

describe('encodePublishWithAlias', () => {
  it.each([
    ['defining', 'dev/1/telemetry/temp', 0 as const],
    ['using', '', 1 as const],
    ['using', '', 2 as const],
  ])('is byte-for-byte what mqtt-packet writes (%s, QoS %#)', (_what, topic, qos) => {
    const payload = Buffer.from('21.5');
    const ours = encodePublishWithAlias(topic, Buffer.byteLength(topic), 7, payload, qos, true, qos > 0, 513);
    const theirs = mqttPacket.generate(
      { cmd: 'publish', topic, payload, qos, retain: true, dup: qos > 0, ...(qos > 0 ? { messageId: 513 } : {}), properties: { topicAlias: 7 } },
      { protocolVersion: 5 },
    );
    expect(ours.toString('hex')).toBe(theirs.toString('hex'));
  });
});
