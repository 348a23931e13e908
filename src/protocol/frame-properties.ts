/**
 * MQTT 5 property lists in a raw client frame (spec 2.2.2): each identifier known, allowed in the
 * packet and given at most once (User Property and Subscription Identifier may repeat), each value
 * of its data type and in range. Which identifiers each packet allows is validate.ts's, per packet.
 */
import { Cursor, malformed, protocolError } from './frame-cursor.js';

type PropertyType = 'byte' | 'u16' | 'u32' | 'vbi' | 'string' | 'binary' | 'pair';

/** MQTT 5 property identifiers (spec 2.2.2.2) and their data types. */
const PROPERTY_TYPES: Record<number, PropertyType> = {
  0x01: 'byte', // Payload Format Indicator
  0x02: 'u32', // Message Expiry Interval
  0x03: 'string', // Content Type
  0x08: 'string', // Response Topic
  0x09: 'binary', // Correlation Data
  0x0b: 'vbi', // Subscription Identifier
  0x11: 'u32', // Session Expiry Interval
  0x12: 'string', // Assigned Client Identifier
  0x13: 'u16', // Server Keep Alive
  0x15: 'string', // Authentication Method
  0x16: 'binary', // Authentication Data
  0x17: 'byte', // Request Problem Information
  0x18: 'u32', // Will Delay Interval
  0x19: 'byte', // Request Response Information
  0x1a: 'string', // Response Information
  0x1c: 'string', // Server Reference
  0x1f: 'string', // Reason String
  0x21: 'u16', // Receive Maximum
  0x22: 'u16', // Topic Alias Maximum
  0x23: 'u16', // Topic Alias
  0x24: 'byte', // Maximum QoS
  0x25: 'byte', // Retain Available
  0x26: 'pair', // User Property
  0x27: 'u32', // Maximum Packet Size
  0x28: 'byte', // Wildcard Subscription Available
  0x29: 'byte', // Subscription Identifier Available
  0x2a: 'byte', // Shared Subscription Available
};

const USER_PROPERTY = 0x26;
const RESPONSE_TOPIC = 0x08;
const SUBSCRIPTION_IDENTIFIER = 0x0b;
/** Byte properties whose only values are 0 and 1 (anything else is a Protocol Error). */
const BOOLEAN_PROPERTIES = new Set([0x01, 0x17, 0x19]);
/** Properties for which 0 is a Protocol Error (Receive Maximum, Maximum Packet Size, Subscription Identifier). */
const NON_ZERO_PROPERTIES = new Set([0x21, 0x27, 0x0b]);

/** Reads a property list (length, then properties) and returns the identifiers seen. */
export function readProperties(cursor: Cursor, allowed: ReadonlySet<number>, packet: string): Set<number> {
  const length = cursor.vbi(`${packet} property length`);
  if (length > cursor.remaining) throw malformed(`${packet} property length runs past the end of the packet`);
  const list = new Cursor(cursor.bytes, cursor.pos, cursor.pos + length);
  cursor.pos += length;
  const seen = new Set<number>();
  while (list.remaining > 0) {
    const id = list.vbi(`${packet} property identifier`);
    const type = PROPERTY_TYPES[id];
    // A property not defined for this packet is a Malformed Packet (spec 2.2.2.2).
    if (type === undefined || !allowed.has(id)) throw malformed(`property 0x${id.toString(16)} is not allowed in ${packet}`);
    if (seen.has(id) && id !== USER_PROPERTY && id !== SUBSCRIPTION_IDENTIFIER) {
      throw protocolError(`property 0x${id.toString(16)} appears more than once in ${packet}`);
    }
    seen.add(id);
    const what = `${packet} property 0x${id.toString(16)}`;
    let value = -1;
    switch (type) {
      case 'byte':
        value = list.byte(what);
        if (BOOLEAN_PROPERTIES.has(id) && value > 1) throw protocolError(`${what} has the value ${value}, not 0 or 1`);
        break;
      case 'u16':
        value = list.u16(what);
        break;
      case 'u32':
        value = list.u32(what);
        break;
      case 'vbi':
        value = list.vbi(what);
        break;
      case 'string': {
        const text = list.string(what);
        // A Response Topic is a topic name: no wildcards [5.0 MQTT-3.3.2-14].
        if (id === RESPONSE_TOPIC && (text.includes(0x2b) || text.includes(0x23))) throw protocolError('Response Topic with a wildcard');
        break;
      }
      case 'binary':
        list.binary(what);
        break;
      case 'pair':
        list.string(`${what} name`);
        list.string(`${what} value`);
        break;
    }
    if (value === 0 && NON_ZERO_PROPERTIES.has(id)) throw protocolError(`${what} is 0`);
  }
  return seen;
}
