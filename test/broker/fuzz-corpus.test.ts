/**
 * Every input of the regression corpus (fuzz-corpus.ts, fed by `npm run soak -- fuzz`) against a
 * broker whose error-level log is watched: bad input must be handled as a protocol violation
 * (the connection closed, 5.0: with a reason code), never reach an internal error, and leave the
 * broker serving.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient } from '../helpers/clients.js';
import { sendAndClose } from '../helpers/fuzz-input.js';
import { REGRESSION_CORPUS } from './fuzz-corpus.js';

const errorLines: string[] = [];
let tb: TestBroker;
beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      errorLines.push(chunk.toString());
      callback();
    },
  });
  tb = await startBroker({ store: { type: 'level' }, limits: { maxPacketSize: 65536 } }, { logger: createLogger('error', sink) });
});
afterAll(async () => {
  await closeAllClients();
  await tb.cleanup();
});

describe('the fuzz regression corpus', () => {
  it.each(REGRESSION_CORPUS.map((hex, i) => [i, hex]))('input %i is a protocol violation, not an internal error', async (_i, hex) => {
    const violationsBefore = tb.broker.admin.stats.protocolViolations;
    await sendAndClose(tb.port, [Buffer.from(hex, 'hex')]);
    await expect.poll(() => tb.broker.admin.connectionCount).toBe(0);
    expect(errorLines).toEqual([]);
    expect(tb.broker.admin.stats.protocolViolations).toBeGreaterThanOrEqual(violationsBefore);
    const client = await connectClient(tb.url, { clientId: 'after-corpus' });
    await client.publishAsync('corpus/ok', 'still serving', { qos: 1 });
    await client.endAsync();
  });

  it('[5.0 MQTT-3.10.3-2] [3.1.1 MQTT-3.8.3-3] an UNSUBSCRIBE or SUBSCRIBE without a filter closes the connection as a protocol violation', async () => {
    const violationsBefore = tb.broker.admin.stats.protocolViolations;
    await sendAndClose(tb.port, [Buffer.from('100f00044d5154540502001e0000027531a203000100', 'hex')]);
    await sendAndClose(tb.port, [Buffer.from('100f00044d5154540502001e00000275318203000100', 'hex')]);
    await expect.poll(() => tb.broker.admin.stats.protocolViolations).toBe(violationsBefore + 2);
    expect(errorLines).toEqual([]);
  });
});
