/** Packet ids and the send window. */
import { describe, expect, it } from 'vitest';
import { InflightWindow } from '../../src/session/inflight-window.js';
import { message } from './fakes.js';

describe('InflightWindow', () => {
  it('[3.1.1 MQTT-2.3.1-4] skips packet ids still in flight, wraps after 65,535 and never hands out 0', () => {
    const window = new InflightWindow(65_535);
    window.add({ seq: 1, message: message('a'), qos: 1, retain: false, state: 'sent', packetId: 2 });
    expect(window.nextPacketId()).toBe(1);
    expect(window.nextPacketId()).toBe(3);
    for (let i = 4; i <= 0xffff; i++) window.nextPacketId();
    expect(window.nextPacketId()).toBe(1);
  });

  it('is full at min(client Receive Maximum, maxInflight), at least 1', () => {
    const window = new InflightWindow(3);
    window.resize(0);
    window.add({ seq: 1, message: message('a'), qos: 1, retain: false, state: 'sent', packetId: 1 });
    expect(window.isFull).toBe(true);
    window.resize(10);
    expect(window.isFull).toBe(false);
    window.add({ seq: 2, message: message('b'), qos: 1, retain: false, state: 'sent', packetId: 2 });
    window.add({ seq: 3, message: message('c'), qos: 1, retain: false, state: 'sent', packetId: 3 });
    expect(window.isFull).toBe(true);
  });
});
