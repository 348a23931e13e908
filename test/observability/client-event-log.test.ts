/** Per-client connect/disconnect lines: one by one up to a rate, then one summary line per second. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/index.js';
import { ClientEventLog, createLogger } from '../../src/observability/index.js';

function capturedLogger(level: string): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

/** pino writes to a stream synchronously here, but let a tick pass for the Writable. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ClientEventLog', () => {
  it('logs each client at info up to the rate, then sums the rest up in one line at the end of the second', async () => {
    const clock = new ManualClock(1_000_000);
    const { logger, lines } = capturedLogger('info');
    const log = new ClientEventLog(logger, clock, 3);
    for (let i = 0; i < 5; i++) log.log('client connected', () => ({ clientId: `c${i}` }));
    log.log('client disconnected', () => ({ clientId: 'c0' }));
    await settle();
    expect(lines.map((l) => [l.msg, l.clientId])).toEqual([
      ['client connected', 'c0'],
      ['client connected', 'c1'],
      ['client connected', 'c2'],
    ]);
    clock.advance(1000);
    await settle();
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ level: 30, connected: 2, disconnected: 1, linesPerSecond: 3 });
    // A new second: lines one by one again.
    log.log('client connected', () => ({ clientId: 'c9' }));
    await settle();
    expect(lines[4]).toMatchObject({ msg: 'client connected', clientId: 'c9' });
  });

  it('at debug logs every client (the audit trail), still with the summary at info', async () => {
    const clock = new ManualClock(0);
    const { logger, lines } = capturedLogger('debug');
    const log = new ClientEventLog(logger, clock, 1);
    log.log('client connected', () => ({ clientId: 'a' }));
    log.log('client connected', () => ({ clientId: 'b' }));
    log.flush();
    await settle();
    expect(lines.map((l) => [l.level, l.msg === 'client connected' ? l.clientId : 'summary'])).toEqual([
      [30, 'a'],
      [20, 'b'],
      [30, 'summary'],
    ]);
  });

  it('above info builds no fields at all', () => {
    const clock = new ManualClock(0);
    const { logger } = capturedLogger('warn');
    const log = new ClientEventLog(logger, clock, 1);
    let built = 0;
    for (let i = 0; i < 10; i++) log.log('client connected', () => ({ clientId: String(built++) }));
    expect(built).toBe(0);
  });
});
