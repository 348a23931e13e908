/**
 * The level store's cached outgoing keys: byte for byte the keys `outgoingKey` makes (what is on
 * disk already must still be found, deleted and read in seq order), whichever client came before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutgoingKeys, outgoingKey } from '../../src/store/codec.js';

describe('OutgoingKeys', () => {
  it('makes the same key as outgoingKey for any client and seq, in any order of clients', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'offline-sub', 'ü/ß', ''), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), { minLength: 1, maxLength: 50 }), (pairs) => {
        const keys = new OutgoingKeys();
        for (const [clientId, seq] of pairs) expect(keys.outgoing(clientId, seq)).toBe(outgoingKey(clientId, seq));
      }),
    );
  });

  it('pads every seq to the same width, so keys sort in seq order', () => {
    const keys = new OutgoingKeys();
    const seqs = [1, 15, 16, 255, 256, 2 ** 32, 2 ** 52, Number.MAX_SAFE_INTEGER];
    const made = seqs.map((seq) => keys.outgoing('c', seq));
    expect(new Set(made.map((key) => key.length)).size).toBe(1);
    expect([...made].sort()).toEqual(made);
  });
});
