/**
 * The broker's incident lines on their own: counted every time, logged a few times. A fake logger
 * and an injected now(); no broker, no socket, no sleep.
 */
import { describe, expect, it } from 'vitest';
import { IncidentLog } from '../../src/broker/incident-log.js';
import { BrokerStats } from '../../src/broker/stats.js';
import type { Logger } from '../../src/observability/index.js';
import type { Session } from '../../src/session/index.js';
import type { Message } from '../../src/store/index.js';

function setup() {
  const lines: Array<{ level: string; msg: string }> = [];
  const logger = { warn: (_fields: unknown, msg: string) => lines.push({ level: 'warn', msg }), error: (_fields: unknown, msg: string) => lines.push({ level: 'error', msg }) } as unknown as Logger;
  const stats = new BrokerStats(0);
  let now = 0;
  const log = new IncidentLog(logger, stats, () => now);
  return { lines, stats, log, advance: (ms: number) => (now += ms) };
}

const message: Message = { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false };
const session = (clientId: string, overflowPolicy: 'drop-oldest' | 'drop-newest' = 'drop-oldest') =>
  ({ clientId, queuedCount: 10, overflowPolicy, dropped: { 'queue-full': 0, 'offline-qos0': 0, expired: 0, 'too-large': 0 } }) as unknown as Session;

describe('IncidentLog', () => {
  it('counts every drop; a full queue is one line a second per session', () => {
    const { lines, stats, log, advance } = setup();
    const a = session('a');
    const b = session('b', 'drop-newest');
    for (let i = 0; i < 50; i++) log.dropped(a, 'queue-full', message);
    log.dropped(b, 'queue-full', message);
    log.dropped(a, 'expired', message);
    expect(stats.dropped['queue-full']).toBe(51);
    expect(stats.dropped.expired).toBe(1);
    expect(lines.map((l) => l.msg)).toEqual(['queue full; oldest messages are dropped', 'queue full; newest messages are refused']);
    advance(999);
    log.dropped(a, 'queue-full', message);
    expect(lines).toHaveLength(2);
    advance(1);
    log.dropped(a, 'queue-full', message);
    expect(lines).toHaveLength(3);
  });

  it('a full retained store: every refusal counted, one line per hundred', () => {
    const { lines, stats, log } = setup();
    for (let i = 0; i < 250; i++) log.retainRefused(message, 5);
    expect(stats.retainedRefused).toBe(250);
    expect(lines.map((l) => l.msg)).toEqual(Array(3).fill('retained store full; new retained topics are not kept'));
  });

  it('store health: an error line when writes start failing, a warning when they work again', () => {
    const { lines, log } = setup();
    log.storeHealthChanged({ isWritable: false, reason: 'ENOSPC', since: 0, failedAttempts: 1, episodes: 1 }, new Error('ENOSPC'));
    log.storeHealthChanged({ isWritable: true, failedAttempts: 3, episodes: 1 }, undefined);
    expect(lines.map((l) => l.level)).toEqual(['error', 'warn']);
    expect(lines[0]!.msg).toMatch(/^store writes failing/);
    expect(lines[1]!.msg).toMatch(/^store writable again/);
  });
});
