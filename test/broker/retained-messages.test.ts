/**
 * The retained messages on their own (RetainedMessages, behind Router.retain): bounds, the broker's
 * in-memory status topics, and the restore/forget paths that write nothing. No broker, no socket.
 */
import { describe, expect, it } from 'vitest';
import { RetainedMessages } from '../../src/broker/retained-messages.js';
import type { Message } from '../../src/store/index.js';
import { RecordingCommitLog } from '../session/fakes.js';

const retained = (topic: string, text: string): Message => ({ topic, payload: Buffer.from(text), qos: 0, retain: true });

function setup(maxRetainedMessages = 2, maxRetainedBytes = 10) {
  const log = new RecordingCommitLog();
  const refused: string[] = [];
  const messages = new RetainedMessages(log, { maxRetainedMessages, maxRetainedBytes, onRetainRefused: (m) => refused.push(m.topic) });
  return { log, refused, messages };
}

describe('RetainedMessages', () => {
  it('[5.0 MQTT-3.3.1-5] [5.0 MQTT-3.3.1-6] keeps one message per topic, written through the commit log; an empty payload deletes it', () => {
    const { log, messages } = setup();
    messages.retain(retained('a', 'one'));
    messages.retain(retained('a', 'three'));
    expect(messages.index.get('a')?.payload.toString()).toBe('three');
    expect(messages.byteCount).toBe(5);
    messages.retain(retained('a', ''));
    expect(messages.index.get('a')).toBeUndefined();
    expect(messages.byteCount).toBe(0);
    expect(log.pending.map((op) => op.type)).toEqual(['putRetained', 'putRetained', 'deleteRetained']);
  });

  it('refuses a message past the byte bound and keeps the old value', () => {
    const { refused, messages } = setup(5, 10);
    messages.retain(retained('a', '12345'));
    messages.retain(retained('b', '123456')); // 11 bytes in all: over 10
    expect(refused).toEqual(['b']);
    messages.retain(retained('a', '1234567890')); // replacing a's 5 bytes: exactly 10
    expect(messages.index.get('a')?.payload.length).toBe(10);
    expect(refused).toEqual(['b']);
  });

  it("the broker's own status topics count against no bound and reach no store", () => {
    const { log, refused, messages } = setup(1);
    messages.retain(retained('$SYS/broker/uptime', '1 seconds'), true);
    messages.retain(retained('$SYS/broker/version', 'midge'), true);
    messages.retain(retained('user', 'x'));
    expect(refused).toEqual([]);
    expect(messages.index.size).toBe(3);
    expect(log.pending.map((op) => op.type)).toEqual(['putRetained']);
    messages.retain(retained('$SYS/broker/uptime', ''), true);
    expect(messages.index.get('$SYS/broker/uptime')).toBeUndefined();
    expect(log.pending).toHaveLength(1);
  });

  it('restore and forget change the index and the byte count without a store write', () => {
    const { log, messages } = setup();
    messages.restore(retained('a', 'abc'));
    messages.restore(retained('a', 'abcd'));
    expect(messages.byteCount).toBe(4);
    messages.forget('a');
    messages.forget('never-there');
    expect(messages.index.size).toBe(0);
    expect(messages.byteCount).toBe(0);
    expect(log.pending).toEqual([]);
  });
});
