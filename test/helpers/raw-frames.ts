/** Byte-level builders for packets no client library would send (malformed-input tests, fuzz corpus). */

export function vbi(value: number): number[] {
  const bytes: number[] = [];
  do {
    let digit = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) digit |= 0x80;
    bytes.push(digit);
  } while (value > 0);
  return bytes;
}

/** A whole packet: first byte, Remaining Length, body. */
export function frame(firstByte: number, body: number[]): Buffer {
  return Buffer.from([firstByte, ...vbi(body.length), ...body]);
}

/** A length-prefixed string; `raw` bytes are taken as they are (for ill-formed UTF-8). */
export function str(text: string | number[]): number[] {
  const bytes = typeof text === 'string' ? [...Buffer.from(text, 'utf8')] : text;
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
}

/** An MQTT 5 property list: its length, then the properties' bytes. */
export function props(...properties: number[][]): number[] {
  const bytes = properties.flat();
  return [...vbi(bytes.length), ...bytes];
}

export const u16 = (value: number): number[] => [value >> 8, value & 0xff];
export const u32 = (value: number): number[] => [(value >>> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];

/** A CONNECT with the given flags and payload fields, exactly as given (flags are not derived). */
export function connectFrame(options: { version: 4 | 5; flags: number; clientId: string; properties?: number[]; payloadTail?: number[] }): Buffer {
  const body = [...str('MQTT'), options.version, options.flags, ...u16(0)];
  if (options.version === 5) body.push(...(options.properties ?? props()));
  body.push(...str(options.clientId), ...(options.payloadTail ?? []));
  return frame(0x10, body);
}
