/**
 * `${…}` templates for URLs, headers, bodies, routing keys, SQL and stream fields, rendered from a
 * message without eval. Compiled once per connector; a placeholder the renderer does not know is
 * a configuration error at start, not a surprise per message.
 *
 * Placeholders: msgid, topic, topic.N (0-based level), payload (UTF-8 text), payload:base64,
 * payload:json (parsed JSON, SQL only; text when not JSON), envelope (the JSON envelope), qos,
 * retain, timestamp (ISO 8601), timestamp:ms, redelivered, user.<name> (MQTT 5 user property),
 * contentType. Filters after `|`: dots (`/` → `.`), url (URI-component encoded), json (JSON string).
 */
import type { ConnectorMessage } from './types.js';
import { envelopeJsonOf } from './envelope.js';

type Getter = (m: ConnectorMessage) => unknown;
type Filter = (text: string) => string;

const FILTERS: Record<string, Filter> = {
  dots: (t) => t.replaceAll('/', '.'),
  url: (t) => encodeURIComponent(t),
  json: (t) => JSON.stringify(t),
};

function userProperty(m: ConnectorMessage, name: string): string {
  const value = m.message.properties?.userProperties?.[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

function parseJsonPayload(m: ConnectorMessage): unknown {
  const text = m.message.payload.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function getterOf(name: string): Getter | undefined {
  const level = /^topic\.(\d+)$/.exec(name);
  if (level) {
    const index = Number(level[1]);
    return (m) => m.message.topic.split('/')[index] ?? '';
  }
  if (name.startsWith('user.')) {
    const key = name.slice('user.'.length);
    return (m) => userProperty(m, key);
  }
  switch (name) {
    case 'msgid':
      return (m) => m.id;
    case 'topic':
      return (m) => m.message.topic;
    case 'payload':
      return (m) => m.message.payload.toString('utf8');
    case 'payload:base64':
      return (m) => m.message.payload.toString('base64');
    case 'payload:json':
      return parseJsonPayload;
    case 'envelope':
      return envelopeJsonOf;
    case 'qos':
      return (m) => m.message.qos;
    case 'retain':
      return (m) => m.retain;
    case 'timestamp':
      return (m) => new Date(m.timestamp).toISOString();
    case 'timestamp:ms':
      return (m) => m.timestamp;
    case 'redelivered':
      return (m) => m.isRedelivered;
    case 'contentType':
      return (m) => m.message.properties?.contentType ?? '';
    default:
      return undefined;
  }
}

export class TemplateError extends Error {
  constructor(
    readonly template: string,
    message: string,
  ) {
    super(`${message} in template ${JSON.stringify(template)}`);
    this.name = 'TemplateError';
  }
}

interface Part {
  literal: string;
  get?: Getter;
  filters: Filter[];
}

/** Placeholders whose value is a function of the message's topic alone. */
const isTopicPlaceholder = (name: string): boolean => name === 'topic' || /^topic\.\d+$/.test(name);

/** Rendered texts kept per topic, at most this many (then it starts over). */
const TOPIC_MEMO_SIZE = 10_000;

const PLACEHOLDER = /\$\{([^}]*)\}/g;

/** A compiled template: literal text and placeholders in order. */
export class Template {
  private readonly parts: Part[] = [];
  readonly hasPlaceholders: boolean;
  /** Every placeholder reads the topic only: a text per topic is rendered once (renderCached). */
  private readonly isTopicOnly: boolean;
  private readonly byTopic = new Map<string, string>();

  constructor(readonly source: string) {
    let last = 0;
    let isTopicOnly = true;
    for (const match of source.matchAll(PLACEHOLDER)) {
      const [name, ...filterNames] = match[1]!.split('|').map((s) => s.trim());
      if (!isTopicPlaceholder(name!)) isTopicOnly = false;
      const get = getterOf(name!);
      if (!get) throw new TemplateError(source, `unknown placeholder \${${name}}`);
      const filters = filterNames.map((f) => {
        const filter = FILTERS[f];
        if (!filter) throw new TemplateError(source, `unknown filter |${f}`);
        return filter;
      });
      this.parts.push({ literal: source.slice(last, match.index), get, filters });
      last = match.index + match[0].length;
    }
    this.parts.push({ literal: source.slice(last), filters: [] });
    this.hasPlaceholders = this.parts.length > 1;
    this.isTopicOnly = isTopicOnly;
  }

  /**
   * render(m), remembered per topic when the template reads nothing but the topic (routing keys,
   * URLs, stream names): a device fleet publishes on few topics, each many times.
   */
  renderCached(m: ConnectorMessage): string {
    if (!this.hasPlaceholders) return this.parts[0]!.literal;
    if (!this.isTopicOnly) return this.render(m);
    const topic = m.message.topic;
    let text = this.byTopic.get(topic);
    if (text === undefined) {
      if (this.byTopic.size >= TOPIC_MEMO_SIZE) this.byTopic.clear();
      text = this.render(m);
      this.byTopic.set(topic, text);
    }
    return text;
  }

  /** The template as text for this message. */
  render(m: ConnectorMessage): string {
    let out = '';
    for (const part of this.parts) {
      out += part.literal;
      if (!part.get) continue;
      const value = part.get(m);
      let text = typeof value === 'string' ? value : JSON.stringify(value);
      for (const filter of part.filters) text = filter(text);
      out += text;
    }
    return out;
  }

  /**
   * SQL: the text with each placeholder replaced by `$<n>` (numbered from `firstIndex`) and the
   * values to bind — never spliced into the statement.
   */
  bind(m: ConnectorMessage, firstIndex = 1): { text: string; values: unknown[] } {
    let text = '';
    const values: unknown[] = [];
    for (const part of this.parts) {
      text += part.literal;
      if (!part.get) continue;
      let value = part.get(m);
      if (part.filters.length > 0) {
        let s = typeof value === 'string' ? value : JSON.stringify(value);
        for (const filter of part.filters) s = filter(s);
        value = s;
      } else if (value !== null && typeof value === 'object') {
        value = JSON.stringify(value); // payload:json objects go to json/jsonb columns as text
      }
      values.push(value);
      text += `$${firstIndex + values.length - 1}`;
    }
    return { text, values };
  }
}

/**
 * Secrets in connector settings, resolved once at start: `${env:MIDGE_SECRET_NAME}` and
 * `${file:/path}` (trailing newline trimmed). Anything else is left for the per-message renderer.
 */
export function resolveSecrets(text: string, env: NodeJS.ProcessEnv, readFile: (path: string) => string): string {
  return text.replace(/\$\{(env|file):([^}]+)\}/g, (_, kind: string, name: string) => {
    if (kind === 'env') {
      if (!name.startsWith('MIDGE_SECRET_')) throw new TemplateError(text, `\${env:${name}}: only MIDGE_SECRET_* variables may be read`);
      const value = env[name];
      if (value === undefined) throw new TemplateError(text, `\${env:${name}} is not set`);
      return value;
    }
    return readFile(name).replace(/\r?\n$/, '');
  });
}
