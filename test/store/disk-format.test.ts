/**
 * The store's disk format, pinned: every fixture in test/store/fixtures/ (one per record kind and
 * format version) is read and written again byte for byte, keys included, and the damaged ones are
 * refused with a reason. A failure here means a broker upgraded in place would misread the store
 * the previous version wrote: add a format version instead of changing an existing one.
 */
import { describe, expect, it } from 'vitest';
import { CorruptRecordError, RECORD_VERSION } from '../../src/store/index.js';
import { keyTail } from '../../src/store/codec.js';
import { codecs, damaged, readFixture, readWrite } from './fixtures/records.js';

describe('pinned store record formats', () => {
  it('the JSON-header records are at format version 1 (new fixtures are due when it changes)', () => {
    expect(RECORD_VERSION).toBe(1);
  });

  describe.each(readWrite)('$file', ({ file, kind, clientId, record, rewritesAs }) => {
    const { key, value } = readFixture(file);
    const codec = codecs[kind];

    it('the key is the one written for this record', () => {
      expect(Buffer.from(codec.key(record as never, clientId)).equals(key)).toBe(true);
    });

    it('decodes to the record', () => {
      expect(codec.decode(key.toString(), value)).toEqual(record);
    });

    it(rewritesAs ? `is re-written in the current format, as ${rewritesAs}` : 're-writes byte for byte', () => {
      const expected = rewritesAs ? readFixture(rewritesAs).value : value;
      const written = codec.encode(codec.decode(key.toString(), value) as never);
      expect(written.toString('hex')).toBe(expected.toString('hex'));
    });
  });

  it('an incoming QoS 2 id is read back from its key (the value only marks it held)', () => {
    const { key } = readFixture('incoming-qos2-v1.hex');
    expect(parseInt(keyTail(key.toString()), 16)).toBe(0x1234);
  });

  it.each(damaged)('$file is refused: $reason', ({ file, kind, reason }) => {
    const { key, value } = readFixture(file);
    let error: unknown;
    try {
      codecs[kind].decode(key.toString(), value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CorruptRecordError);
    expect((error as Error).message).toMatch(new RegExp(`: ${reason}$`));
  });
});
