/**
 * A connector's `$dlq/<name>` holds what its sink and its source dead-lettered; a replay sends
 * each back its own way: a sink's dead letter into the connector's session, a source's command
 * (never in that session: the connector's sink must not get it) to its original topic, and a
 * source's bad record, which has no topic to go to, stays held.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { brokerQueueHost, DeadLetterHolder } from '../../src/queues/index.js';
import type { Message } from '../../src/store/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectCollecting } from '../helpers/clients.js';

let tb: TestBroker | undefined;
afterEach(closeAllClients);
afterAll(async () => {
  await tb?.cleanup();
});

function deadLetter(payload: string, userProperties: Record<string, string>): Message {
  return { topic: '$dlq/cmds', payload: Buffer.from(payload), qos: 1, retain: false, properties: { userProperties } };
}

describe('dead letters of a connector with a sink and a source', () => {
  it("replays a sink's into the connector's session, a source's command to its topic, and keeps a bad record", async () => {
    tb = await startBroker({ store: { type: 'level' } });
    const broker = tb.broker;
    const holder = new DeadLetterHolder(brokerQueueHost(broker), { name: 'cmds', topic: '$dlq/cmds', targetSessionId: '$connector/cmds', maxMessages: 100, maxBytes: 1 << 20 });
    await holder.start();
    // The connector's sink session, offline here: what is replayed into it waits in its queue.
    const sink = await broker.openInternalSession('$connector/cmds', [], { overflowPolicy: 'drop-oldest' });
    const { client: device, collector } = await connectCollecting(tb.url, { clientId: 'device-1', protocolVersion: 5 });
    await device.subscribeAsync('dev/1/cmd', { qos: 1 });

    await broker.publishInternal(deadLetter('refused', { reason: 'data', error: '422', attempts: '1', connector: 'cmds', topic: 'dev/1/data', msgid: 'm1' }), '$connector/cmds');
    await broker.publishInternal(deadLetter('open', { reason: 'no-subscriber', topic: 'dev/1/cmd', connector: 'cmds', record: 'r1', app: 'kept' }), '$connector/cmds');
    await broker.publishInternal(deadLetter('garbled', { reason: 'bad-record', error: 'field device missing', connector: 'cmds', record: 'r2' }), '$connector/cmds');
    await expect.poll(() => holder.held).toBe(3);

    expect(await holder.replayAll()).toBe(2);
    // The sink's dead letter is back in the sink's session.
    expect(sink.queuedCount).toBe(1);
    // The source's command reached the device, not the sink.
    const [command] = await collector.waitFor(1);
    expect(command).toMatchObject({ topic: 'dev/1/cmd', payload: 'open' });
    expect(command!.packet.properties?.userProperties).toEqual({ app: 'kept' });
    // The bad record has nowhere to go: still held, and a second replay leaves it so.
    expect(holder.held).toBe(1);
    expect(await holder.replayAll()).toBe(0);
    expect(holder.held).toBe(1);
    expect(sink.queuedCount).toBe(1);
    expect(collector.messages).toHaveLength(1);
    await holder.stop();
  }, 30_000);
});
