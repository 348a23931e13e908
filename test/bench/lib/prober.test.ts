/**
 * The C latency prober the latency scenario relies on: against a real broker it must count every
 * message sent in its window, answer QoS 1 deliveries (or the broker would stall it), and report
 * percentiles in order. Short window: this checks the tool, not a latency.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../../helpers/broker.js';
import { proberBinary, runProber } from './opener.js';

const { binary, why } = proberBinary();

describe.skipIf(!binary)(`C latency prober${binary ? '' : ` (skipped: ${why})`}`, () => {
  let server: TestBroker;
  beforeAll(async () => {
    server = await startBroker();
  });
  afterAll(() => server.cleanup());

  for (const qos of [0, 1] as const) {
    it(`QoS ${qos}: every message sent in the window is sampled, none lost, p50 ≤ p99 ≤ p99.9, the window is announced`, async () => {
      const events: string[] = [];
      const rate = 2000;
      const result = await runProber(binary!, {
        port: server.port,
        qos,
        ratePerSecond: rate,
        warmupMs: 100,
        measureMs: 400,
        topic: `probe/${qos}`,
        isReflected: false,
        maxInFlight: 1000,
        onMeasuring: () => events.push('measuring'),
        onMeasured: () => events.push('measured'),
      });
      expect(events).toEqual(['measuring', 'measured']);
      expect(result.lost).toBe(0);
      // Ticks that expired before the window but were handled in it (a loaded machine) count in
      // it; more than the ticks since the start cannot have been sent.
      expect(result.samples).toBeGreaterThan(0);
      expect(result.samples).toBeLessThanOrEqual((rate * (100 + 400)) / 1000 + 1);
      expect(result.p50Us).toBeGreaterThan(0);
      expect(result.p50Us).toBeLessThanOrEqual(result.p99Us);
      expect(result.p99Us).toBeLessThanOrEqual(result.p999Us);
      expect(result.windowFullTicks).toBe(0);
    });
  }
});
