/**
 * The soak's clients: persistent MQTT.js clients that keep their message stores across
 * reconnects, windowed publishers that record what was acknowledged, and collectors that record
 * what arrived. Nothing here knows about kills; kill-cycles.ts drives them.
 */
import mqtt, { Store, type IClientOptions, type MqttClient } from 'mqtt';

/**
 * A persistent client keeps its stores for as long as its session lives: a QoS 2 message it has
 * PUBRECed is its own until the PUBREL, also across a reconnect. One pair per client id.
 */
const storesByClient = new Map<string, { incoming: Store; outgoing: Store }>();

function storesFor(clientId: string): { incoming: Store; outgoing: Store } {
  let stores = storesByClient.get(clientId);
  if (!stores) {
    stores = { incoming: new Store({ clean: false }), outgoing: new Store({ clean: false }) };
    storesByClient.set(clientId, stores);
  }
  return stores;
}

export function connectPersistent(port: number, clientId: string, extra: IClientOptions = {}): MqttClient {
  const stores = storesFor(clientId);
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 100,
    connectTimeout: 5000,
    // Long enough that a SIGSTOP pause of a few seconds is not mistaken for a dead broker.
    keepalive: 60,
    incomingStore: stores.incoming,
    outgoingStore: stores.outgoing,
    ...extra,
  });
  client.on('error', () => undefined);
  return client;
}

/** Publishes 0,1,2,… on one topic with up to `window` unacknowledged; records the acknowledged. */
export class WindowedPublisher {
  readonly acked = new Set<number>();
  sent = 0;
  rejected = 0;
  private isRunning = false;
  private workers: Promise<void>[] = [];

  /** Each message's first PUBLISH on the wire, in order (MQTT.js may resend or hold some back). */
  readonly firstSendOrder: number[] = [];
  private readonly firstSent = new Set<number>();
  /** Per message: the wire positions of its first and its last (re)send. */
  readonly sendPositions = new Map<number, { first: number; last: number }>();
  private sends = 0;

  constructor(
    readonly client: MqttClient,
    readonly topic: string,
    readonly qos: 1 | 2,
    readonly window: number,
  ) {
    client.on('packetsend', (packet) => {
      if (packet.cmd !== 'publish' || packet.topic !== topic) return;
      const seq = Number(packet.payload.toString());
      const position = this.sends++;
      const known = this.sendPositions.get(seq);
      if (known) known.last = position;
      else this.sendPositions.set(seq, { first: position, last: position });
      if (!this.firstSent.has(seq)) {
        this.firstSent.add(seq);
        this.firstSendOrder.push(seq);
      }
    });
  }

  start(): void {
    this.isRunning = true;
    for (let w = 0; w < this.window; w++) this.workers.push(this.work());
  }

  private async work(): Promise<void> {
    while (this.isRunning) {
      const seq = this.sent++;
      // MQTT.js resends unacknowledged messages after reconnecting; one it was still holding back
      // when the connection dropped is rejected ("Connection closed"): never acknowledged, so the
      // broker owes nothing for it.
      try {
        await this.client.publishAsync(this.topic, String(seq), { qos: this.qos });
        this.acked.add(seq);
      } catch {
        this.rejected++;
      }
    }
  }

  /** Stops issuing new messages and waits for those in flight to be settled. */
  async stop(): Promise<void> {
    this.isRunning = false;
    await Promise.all(this.workers);
  }
}

/**
 * Retained writes: one sequential writer per topic (so "the last acknowledged write" is
 * well defined), values 1,2,3,… The last write before stop() is retried until acknowledged.
 */
export class RetainedWriter {
  readonly lastAcked = new Map<string, number>();
  readonly lastSent = new Map<string, number>();
  writes = 0;
  private isRunning = false;
  private workers: Promise<void>[] = [];

  constructor(
    readonly client: MqttClient,
    readonly topics: readonly string[],
  ) {}

  /** One acknowledged write per topic before the load starts, so every check has a floor. */
  async seed(): Promise<void> {
    for (const topic of this.topics) await this.writeUntilAcked(topic);
  }

  start(): void {
    this.isRunning = true;
    for (const topic of this.topics) {
      this.workers.push(
        (async () => {
          while (this.isRunning) await this.writeOnce(topic);
          // The final state must be an acknowledged one.
          if (this.lastSent.get(topic) !== this.lastAcked.get(topic)) await this.writeUntilAcked(topic);
        })(),
      );
    }
  }

  async stop(): Promise<void> {
    this.isRunning = false;
    await Promise.all(this.workers);
  }

  private async writeUntilAcked(topic: string): Promise<void> {
    while (!(await this.writeOnce(topic))) {
      // rejected because the connection dropped: MQTT.js reconnects; try the next value
    }
  }

  private async writeOnce(topic: string): Promise<boolean> {
    const value = (this.lastSent.get(topic) ?? 0) + 1;
    this.lastSent.set(topic, value);
    this.writes++;
    try {
      await this.client.publishAsync(topic, String(value), { qos: 1, retain: true });
      this.lastAcked.set(topic, value);
      return true;
    } catch {
      return false;
    }
  }
}

/** What one subscriber received per topic, in arrival order. */
export class Collector {
  readonly received = new Map<string, number[]>();

  readonly onMessage = (topic: string, payload: Buffer): void => {
    let list = this.received.get(topic);
    if (!list) this.received.set(topic, (list = []));
    list.push(Number(payload.toString()));
  };

  list(topic: string): number[] {
    return this.received.get(topic) ?? [];
  }
}

/** Acknowledged-vs-delivered figures of one stream at one receiver (or a union of receivers). */
export interface StreamFigures {
  name: string;
  sent: number;
  acked: number;
  rejectedByClient: number;
  delivered: number;
  unique: number;
  duplicates: number;
  lost: number;
  lostExamples: number[];
  isOrdered: boolean;
  /**
   * First deliveries that came after a later message's because the client itself resent them
   * after first sending that later one (its first copy died with a killed broker): the broker
   * received them in that order, so it is not a broken order.
   */
  lateResends: number;
  /** The first place where a first delivery came after a later-published one. */
  firstInversion?: string;
}

/** Compares what a publisher had acknowledged with what arrived (lists concatenated for a union). */
export function figures(name: string, publisher: WindowedPublisher, lists: number[][], mustBeOrdered: boolean): StreamFigures {
  const all = lists.flat();
  const unique = new Set(all);
  const lost = [...publisher.acked].filter((s) => !unique.has(s));
  // Per-publisher order: first deliveries at each receiver come in publish order.
  // Per-publisher order, as the broker received: a first delivery may come after a later
  // message's only if the client (re)sent it after first sending that later one.
  let lateResends = 0;
  let firstInversion: string | undefined;
  if (mustBeOrdered) {
    for (const list of lists) {
      const firsts = firstOccurrences(list);
      let highest = -1;
      for (let i = 0; i < firsts.length; i++) {
        const seq = firsts[i]!;
        if (seq > highest) {
          highest = seq;
          continue;
        }
        const late = publisher.sendPositions.get(seq);
        const later = publisher.sendPositions.get(highest);
        if (late && later && late.last > later.first) {
          lateResends++;
          continue;
        }
        if (firstInversion === undefined) {
          firstInversion = `first deliveries ${firsts.slice(Math.max(0, i - 3), i + 3).join(',')}: ${seq} after ${highest}; client sends of ${seq} ${JSON.stringify(late)}, of ${highest} ${JSON.stringify(later)}`;
        }
      }
    }
  }
  const isOrdered = firstInversion === undefined;
  return {
    lateResends,
    firstInversion,
    name,
    sent: publisher.sent,
    acked: publisher.acked.size,
    rejectedByClient: publisher.rejected,
    delivered: all.length,
    unique: unique.size,
    duplicates: all.length - unique.size,
    lost: lost.length,
    lostExamples: lost.slice(0, 10),
    isOrdered,
  };
}

function firstOccurrences(list: number[]): number[] {
  const seen = new Set<number>();
  return list.filter((v) => !seen.has(v) && seen.add(v) !== undefined);
}


export function isAllDelivered(publisher: WindowedPublisher, lists: number[][]): boolean {
  const unique = new Set(lists.flat());
  for (const seq of publisher.acked) if (!unique.has(seq)) return false;
  return true;
}

/** Connects a fresh client for a session and reports whether the broker still had it. */
export function probeSessionPresent(port: number, clientId: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
    client.once('connect', (connack) => {
      resolve(connack.sessionPresent);
      client.end(true);
    });
    client.once('error', (error) => {
      reject(error);
      client.end(true);
    });
  });
}
