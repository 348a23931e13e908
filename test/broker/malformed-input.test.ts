import { describe, expect, it } from 'vitest';
import { startBroker, useBroker } from '../helpers/broker.js';
import { connectClient, MessageCollector, RawClient } from '../helpers/clients.js';

const tb = useBroker({ limits: { maxPacketSize: 1024 } });

/** A bystander subscribed before the abuse must still get a message after it. */
async function expectBrokerStillServes(tag: string): Promise<void> {
  const sub = await connectClient(tb.url, { clientId: `bystander-${tag}` });
  const collector = new MessageCollector(sub);
  await sub.subscribeAsync(`alive/${tag}`, { qos: 1 });
  const pub = await connectClient(tb.url, { clientId: `bystander-pub-${tag}` });
  await pub.publishAsync(`alive/${tag}`, 'still here', { qos: 1 });
  await collector.waitFor(1);
}

describe('bad input closes only the offending connection', () => {
  it('[3.1.1 MQTT-2.2.2-2] invalid fixed-header flags (PUBREL with flags 0000) close the connection', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'badflags' });
    client.writeBytes([0x60, 0x02, 0x00, 0x01]);
    await client.waitClosed();
    await expectBrokerStillServes('flags');
  });

  it('[3.1.1 MQTT-3.8.1-1] SUBSCRIBE with reserved flags 0000 is malformed: closed', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'badsub' });
    client.writeBytes([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]);
    await client.waitClosed();
  });

  it('[3.1.1 MQTT-3.3.1-4] a PUBLISH with QoS 3 closes the connection', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'qos3' });
    client.writeBytes([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]);
    await client.waitClosed();
    await expectBrokerStillServes('qos3');
  });

  it('MQTT 5: a malformed packet gets DISCONNECT 0x81 before the close', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'malformed5', protocolVersion: 5 });
    client.writeBytes([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]);
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x81 });
    await client.waitClosed();
  });

  it('an oversize packet is refused as soon as its length is announced (3.1.1: closed)', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'big4' });
    // PUBLISH announcing 4096 bytes, only the first few sent: refused without waiting for the rest.
    client.writeBytes([0x30, 0x80, 0x20, 0x00, 0x01, 0x61]);
    await client.waitClosed();
    await expectBrokerStillServes('oversize');
  });

  it('MQTT 5: an oversize packet gets DISCONNECT 0x95 (packet too large)', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'big5', protocolVersion: 5 });
    client.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(2000), qos: 0, retain: false, dup: false });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x95 });
    await client.waitClosed();
  });

  it('a client that vanishes mid-packet leaves nothing behind', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'vanish' });
    client.writeBytes([0x30, 0x7f, 0x00, 0x05, 0x61]);
    client.destroy();
    await expect.poll(() => tb.broker.admin.isConnected('vanish')).toBe(false);
    await expectBrokerStillServes('vanish');
  });

  it('random garbage before CONNECT closes the connection, the broker carries on', async () => {
    for (let i = 0; i < 20; i++) {
      const client = await RawClient.open(tb.port);
      const garbage = Buffer.alloc(64);
      for (let j = 0; j < garbage.length; j++) garbage[j] = (i * 131 + j * 17) & 0xff;
      client.writeBytes(garbage);
      client.socket.end();
      await client.waitClosed();
    }
    await expectBrokerStillServes('garbage');
  });

  it('[3.1.1 MQTT-1.5.3-2] a topic containing U+0000 closes the connection', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'nul' });
    client.send({ cmd: 'publish', topic: 'a\u0000b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    await client.waitClosed();
  });

  it('[3.1.1 MQTT-1.5.3-1] a topic with ill-formed UTF-8 closes the connection', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'badutf8' });
    // PUBLISH QoS 0, topic length 3: 'a', 0xC3 (truncated sequence), 'b'; payload 'x'.
    client.writeBytes([0x30, 0x06, 0x00, 0x03, 0x61, 0xc3, 0x62, 0x78]);
    await client.waitClosed();
  });

  it('a connection that never sends CONNECT is closed after the connect timeout', async () => {
    const quick = await startBroker({ limits: { connectTimeoutMs: 200 } });
    try {
      const client = await RawClient.open(quick.port);
      await client.waitClosed(3000);
    } finally {
      await quick.cleanup();
    }
  });
});
