/**
 * How a backend record becomes an MQTT message: `${…}` templates over the record's fields (no
 * eval), compiled once per source so an unknown filter is a start-up error, not a per-record one.
 * A record the templates cannot map (a missing field, a topic that is not a plain topic name, an
 * expiry that is not a whole number of seconds) is a BadRecord: dead-lettered or acked by config,
 * never a crash.
 *
 * Placeholders: `${name}` or `${a.b.c}` (a field, walked by dots), `${json.a.b}` (the payload
 * parsed as JSON), `${payload}` (the payload as text), `${id}` (the backend's record id).
 * Filters after `|`: slashes (`.` → `/`, for AMQP routing keys), dots (`/` → `.`), url.
 */
import type { SourceMappingConfig } from '../../config/index.js';
import type { Message, MessageProperties } from '../../store/index.js';
import { isValidTopicName } from '../../topics/index.js';
import type { SourceRecord } from './types.js';

/** A record whose own expiry (AMQP expiration) has passed when Midge takes it: acked, not published. */
export class ExpiredRecord extends Error {
  constructor() {
    super('record expired before it was taken');
    this.name = 'ExpiredRecord';
  }
}

/** A record that cannot become a message; `reason` names what (never the payload). */
export class BadRecord extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BadRecord';
  }
}

type Filter = (text: string) => string;

const FILTERS: Record<string, Filter> = {
  slashes: (t) => t.replaceAll('.', '/'),
  dots: (t) => t.replaceAll('/', '.'),
  url: (t) => encodeURIComponent(t),
};

interface Part {
  literal: string;
  path?: string[];
  name?: string;
  filters: Filter[];
}

const PLACEHOLDER = /\$\{([^}]*)\}/g;

/** Parsed JSON payloads, once per record. */
const jsonCache = new WeakMap<SourceRecord, unknown>();

function jsonOf(record: SourceRecord): unknown {
  if (jsonCache.has(record)) return jsonCache.get(record);
  let parsed: unknown;
  try {
    parsed = JSON.parse(record.payload.toString('utf8')) as unknown;
  } catch {
    parsed = undefined;
  }
  jsonCache.set(record, parsed);
  return parsed;
}

function walk(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || Buffer.isBuffer(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function lookup(record: SourceRecord, name: string, path: readonly string[]): unknown {
  if (name === 'payload') return record.payload.toString('utf8');
  if (name === 'id') return record.id;
  if (path[0] === 'json') return walk(jsonOf(record), path.slice(1));
  // A field literally named "a.b" (a flat header) wins over walking a → b.
  if (Object.hasOwn(record.fields, name)) return record.fields[name];
  return walk(record.fields, path);
}

function asText(value: unknown, name: string): string {
  if (value === undefined || value === null) throw new BadRecord(`no field ${name}`);
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A compiled template over a record's fields. */
export class RecordTemplate {
  private readonly parts: Part[] = [];

  constructor(readonly source: string) {
    let last = 0;
    for (const match of source.matchAll(PLACEHOLDER)) {
      const [name, ...filterNames] = match[1]!.split('|').map((s) => s.trim());
      if (!name) throw new Error(`empty placeholder in template ${JSON.stringify(source)}`);
      const filters = filterNames.map((f) => {
        const filter = FILTERS[f];
        if (!filter) throw new Error(`unknown filter |${f} in template ${JSON.stringify(source)}`);
        return filter;
      });
      this.parts.push({ literal: source.slice(last, match.index), name, path: name.split('.'), filters });
      last = match.index + match[0].length;
    }
    this.parts.push({ literal: source.slice(last), filters: [] });
  }

  /** The text for this record; throws BadRecord when a field it names is missing. */
  render(record: SourceRecord): string {
    let out = '';
    for (const part of this.parts) {
      out += part.literal;
      if (!part.path) continue;
      let text = asText(lookup(record, part.name!, part.path), part.name!);
      for (const filter of part.filters) text = filter(text);
      out += text;
    }
    return out;
  }
}

/** The mapping of one source, compiled. */
export class RecordMapper {
  private readonly topic: RecordTemplate;
  private readonly payload: RecordTemplate | undefined;
  private readonly expiry: RecordTemplate | number | undefined;
  private readonly userProperties: Array<[string, RecordTemplate]>;
  private readonly contentType: RecordTemplate | undefined;

  constructor(private readonly config: SourceMappingConfig) {
    this.topic = new RecordTemplate(config.topic);
    this.payload = config.payload === undefined ? undefined : new RecordTemplate(config.payload);
    this.expiry = typeof config.expirySeconds === 'string' ? new RecordTemplate(config.expirySeconds) : config.expirySeconds;
    this.userProperties = Object.entries(config.userProperties).map(([k, v]) => [k, new RecordTemplate(v)]);
    this.contentType = config.contentType === undefined ? undefined : new RecordTemplate(config.contentType);
  }

  /**
   * The message for this record, taken at `now`: the properties the record carries by itself
   * (AMQP replyTo, correlationId, contentType, headers, expiration), then the configured
   * templates over them. Throws BadRecord, or ExpiredRecord.
   */
  map(record: SourceRecord, now: number): Message {
    const topic = this.topic.render(record);
    // A command goes to devices: a plain topic name, never a $ topic ($SYS, $dlq, $queue…).
    if (!isValidTopicName(topic) || topic.startsWith('$')) throw new BadRecord('topic is not a plain topic name');
    let payload = record.payload;
    if (this.payload) {
      const text = this.payload.render(record);
      payload = Buffer.from(text, this.config.payloadEncoding === 'base64' ? 'base64' : 'utf8');
    }
    const properties: MessageProperties = { ...record.properties };
    if (record.properties?.userProperties) properties.userProperties = { ...record.properties.userProperties };
    let expiresAt: number | undefined;
    if (this.expiry !== undefined) {
      const seconds = typeof this.expiry === 'number' ? this.expiry : Number(this.expiry.render(record));
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 0xffffffff) throw new BadRecord('expiry is not a whole number of seconds (1..4294967295)');
      properties.messageExpiryInterval = seconds;
      expiresAt = now + seconds * 1000;
    } else if (record.expiresAt !== undefined) {
      if (record.expiresAt <= now) throw new ExpiredRecord();
      // The interval the device sees is what is left, rounded up (never 0: 0 is not an expiry).
      properties.messageExpiryInterval = Math.min(0xffffffff, Math.ceil((record.expiresAt - now) / 1000));
      expiresAt = record.expiresAt;
    }
    if (this.userProperties.length > 0) {
      properties.userProperties = { ...properties.userProperties, ...Object.fromEntries(this.userProperties.map(([k, t]) => [k, t.render(record)])) };
    }
    if (this.contentType) properties.contentType = this.contentType.render(record);
    return {
      topic,
      payload,
      qos: this.config.qos,
      retain: this.config.retain,
      ...(Object.keys(properties).length > 0 ? { properties } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    };
  }
}
