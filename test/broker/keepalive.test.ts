/** One keep-alive timer for every connection: each still expires at exactly 1.5 × its keep-alive of silence. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/index.js';
import { ConnectDeadline, KeepAliveMonitor, KeepAliveSweep } from '../../src/broker/keepalive.js';

function monitored(clock: ManualClock, sweep: KeepAliveSweep, seconds: number, expired: string[], name: string): KeepAliveMonitor {
  return new KeepAliveMonitor(seconds, sweep, { onKeepAliveExpired: () => expired.push(`${name}@${clock.now()}`) });
}

describe('KeepAliveSweep', () => {
  it('[3.1.1 MQTT-3.1.2-24] [5.0 MQTT-3.1.2-22] expires each silent client at 1.5 × its keep-alive, with one timer for all', () => {
    const clock = new ManualClock(0);
    const sweep = new KeepAliveSweep(clock);
    const expired: string[] = [];
    monitored(clock, sweep, 10, expired, 'a');
    clock.advance(1000);
    monitored(clock, sweep, 2, expired, 'b');
    monitored(clock, sweep, 60, expired, 'c');
    expect(clock.pendingCount).toBe(1);
    clock.advance(14_000);
    expect(expired).toEqual(['b@4000', 'a@15000']);
    clock.advance(76_000);
    expect(expired).toEqual(['b@4000', 'a@15000', 'c@91000']);
    expect(sweep.size).toBe(0);
    expect(clock.pendingCount).toBe(0);
  });

  it('activity pushes the expiry out to 1.5 × the keep-alive after the last packet', () => {
    const clock = new ManualClock(0);
    const sweep = new KeepAliveSweep(clock);
    const expired: string[] = [];
    const a = monitored(clock, sweep, 10, expired, 'a');
    clock.advance(14_000);
    a.touch();
    clock.advance(14_999);
    expect(expired).toEqual([]);
    clock.advance(1);
    expect(expired).toEqual(['a@29000']);
  });

  it('a stopped monitor never fires, and the others keep their times', () => {
    const clock = new ManualClock(0);
    const sweep = new KeepAliveSweep(clock);
    const expired: string[] = [];
    const monitors = Array.from({ length: 50 }, (_, i) => monitored(clock, sweep, 1 + (i % 7), expired, `m${i}`));
    for (let i = 0; i < 50; i += 2) monitors[i]!.stop();
    clock.advance(20_000);
    const expected = monitors
      .map((m, i) => ({ i, at: m.graceMs }))
      .filter(({ i }) => i % 2 === 1)
      .sort((x, y) => x.at - y.at || x.i - y.i)
      .map(({ i, at }) => `m${i}@${at}`);
    expect([...expired].sort()).toEqual([...expected].sort());
    // Each fired at its own grace time, in time order.
    const times = expired.map((e) => Number(e.split('@')[1]));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(clock.pendingCount).toBe(0);
  });

  it('a CONNECT deadline shares the one timer, fires at its timeout whatever else is in the heap, and a stopped one never fires', () => {
    const clock = new ManualClock(0);
    const sweep = new KeepAliveSweep(clock);
    const expired: string[] = [];
    monitored(clock, sweep, 2, expired, 'k');
    const deadline = (name: string): ConnectDeadline => new ConnectDeadline(10_000, sweep, { onConnectTimeout: () => expired.push(`${name}@${clock.now()}`) });
    deadline('d1');
    clock.advance(500);
    const stopped = deadline('d2');
    deadline('d3');
    expect(clock.pendingCount).toBe(1);
    stopped.stop();
    clock.advance(9_499);
    expect(expired).toEqual(['k@3000']);
    clock.advance(1);
    expect(expired).toEqual(['k@3000', 'd1@10000']);
    clock.advance(500);
    expect(expired).toEqual(['k@3000', 'd1@10000', 'd3@10500']);
    expect(sweep.size).toBe(0);
    expect(clock.pendingCount).toBe(0);
  });
});
