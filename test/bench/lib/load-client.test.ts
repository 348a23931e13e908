/**
 * The load generator's windowed publisher against an in-process Midge (memory store): it resolves
 * once every publish is acknowledged, and several templates (scenario 14's topics) go in turn.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../../helpers/broker.js';
import { closeAllClients, connectCollecting } from '../../helpers/clients.js';
import { LoadClient, PublishTemplate, publishWindowed } from './load-client.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await closeAllClients();
  await tb?.cleanup();
  tb = undefined;
});

describe('publishWindowed', () => {
  it.each([4, 5] as const)('MQTT %s: one template, then three in turn; every publish acknowledged and delivered once', async (version) => {
    tb = await startBroker();
    const { client: watcher, collector } = await connectCollecting(tb.url, { clientId: 'watcher', protocolVersion: version });
    await watcher.subscribeAsync('lc/#', { qos: 1 });
    const { client } = await LoadClient.connect(tb.port, { clientId: 'windowed', protocolVersion: version });
    try {
      await publishWindowed(client, new PublishTemplate('lc/one', Buffer.from('x'), 1, { version }), 1, 50, 8);
      const templates = ['lc/a', 'lc/b', 'lc/c'].map((topic) => new PublishTemplate(topic, Buffer.from(topic), 1, { version, retain: true }));
      await publishWindowed(client, templates, 1, 100, 8);
      await collector.waitFor(150, 20_000);
      const byTopic: Record<string, number> = {};
      for (const message of collector.messages) byTopic[message.topic] = (byTopic[message.topic] ?? 0) + 1;
      expect(byTopic).toEqual({ 'lc/one': 50, 'lc/a': 34, 'lc/b': 33, 'lc/c': 33 });
      expect(tb.broker.router.retained.get('lc/c')?.payload.toString()).toBe('lc/c');
    } finally {
      client.destroy();
    }
  });
});
