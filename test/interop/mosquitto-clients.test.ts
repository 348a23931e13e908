/** The README's round trip, with Mosquitto's own command-line clients as the peers. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { announceSkip, peers } from '../helpers/peers.js';

announceSkip(peers.mosquittoClients, 'mosquitto_sub/mosquitto_pub interop', 'mosquitto-clients');

describe.skipIf(!peers.mosquittoClients)('mosquitto_sub / mosquitto_pub round trip (needs mosquitto-clients)', () => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startBroker();
  });
  afterAll(async () => {
    await tb.cleanup();
  });

  for (const version of ['mqttv311', 'mqttv5', 'mqttv31'] as const) {
    it(`${version}: mosquitto_sub -q 1 sees mosquitto_pub -q 2`, async () => {
      const topic = `interop/${version}/b`;
      const sub = spawn('/usr/bin/mosquitto_sub', ['-h', '127.0.0.1', '-p', String(tb.port), '-V', version, '-t', `interop/${version}/#`, '-q', '1', '-C', '1', '-v', '-i', `msub-${version}`]);
      // 'close', not 'exit': the output may still be in the pipe when the process has exited.
      const subExit = once(sub, 'close');
      let out = '';
      sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
      // Publish once the subscription is in place (it shows up in the router).
      await expect.poll(() => tb.broker.admin.session(`msub-${version}`)?.subscriptions.size ?? 0, { timeout: 5000 }).toBe(1);
      const pub = spawn('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), '-V', version, '-t', topic, '-m', 'hi', '-q', '2']);
      const [pubCode] = (await once(pub, 'exit')) as [number];
      expect(pubCode).toBe(0);
      const [subCode] = (await subExit) as [number];
      expect(subCode).toBe(0);
      expect(out.trim()).toBe(`${topic} hi`);
    });
  }

  it('mosquitto_sub gets a retained message and mosquitto_pub -r -n deletes it', async () => {
    const pub = spawn('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), '-t', 'interop/ret', '-m', 'kept', '-r', '-q', '1']);
    await once(pub, 'exit');
    const sub = spawn('/usr/bin/mosquitto_sub', ['-h', '127.0.0.1', '-p', String(tb.port), '-t', 'interop/ret', '-C', '1', '-v']);
    // 'close', not 'exit': the output may still be in the pipe when the process has exited.
      const subExit = once(sub, 'close');
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await subExit;
    expect(out.trim()).toBe('interop/ret kept');
    const del = spawn('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), '-t', 'interop/ret', '-r', '-n', '-q', '1']);
    await once(del, 'exit');
    expect(tb.broker.admin.retained('interop/ret')).toBeUndefined();
  });
});
