/**
 * A fleet of simulated sensors on MQTT.js. Each device:
 *  - connects with a will: `devices/<id>/status` = "offline" (retained), then publishes "online"
 *    retained, so dashboards always know who is up;
 *  - publishes JSON telemetry to `devices/<id>/telemetry` every interval (temperature, humidity,
 *    battery — drifting like a real sensor, not white noise);
 *  - obeys commands on `devices/<id>/cmd`: {"interval": ms} changes its period, "ping" answers on
 *    `devices/<id>/ack`;
 *  - reconnects with exponential back-off and jitter when the broker goes away.
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface FleetOptions {
  url: string;
  devices: number;
  intervalMs: number;
  qos: 0 | 1 | 2;
  /** Client id prefix: devices are <prefix>-0001 … */
  prefix: string;
  username?: string;
  password?: string;
  protocolVersion?: 4 | 5;
  /** Stop each device after this many readings (tests); unlimited when absent. */
  maxReadings?: number;
}

export interface FleetStats {
  connected: number;
  published: number;
  commandsHandled: number;
  reconnects: number;
}

export interface Fleet {
  readonly stats: FleetStats;
  stop(): Promise<void>;
  /** Resolves when every device has published maxReadings readings. */
  finished: Promise<void>;
}

class SimulatedSensor {
  private client: MqttClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private intervalMs: number;
  private readings = 0;
  private temperature = 18 + Math.random() * 6;
  private humidity = 40 + Math.random() * 20;
  private battery = 100;
  private failures = 0;
  private isStopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    private readonly options: FleetOptions,
    private readonly stats: FleetStats,
    private readonly onDone: () => void,
  ) {
    this.intervalMs = options.intervalMs;
  }

  private get base(): string {
    return `devices/${this.id}`;
  }

  start(): void {
    if (this.isStopped) return;
    const client = mqtt.connect(this.options.url, {
      clientId: this.id,
      clean: false,
      protocolVersion: this.options.protocolVersion ?? 4,
      keepalive: 30,
      // Our own back-off below, so a fleet does not reconnect in lockstep.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      will: { topic: `${this.base}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
      ...(this.options.username ? { username: this.options.username } : {}),
      ...(this.options.password ? { password: this.options.password } : {}),
    });
    this.client = client;
    client.on('connect', () => {
      this.failures = 0;
      this.stats.connected++;
      client.publish(`${this.base}/status`, 'online', { qos: 1, retain: true });
      client.subscribe(`${this.base}/cmd`, { qos: 1 });
      this.schedule();
    });
    client.on('message', (_topic, payload) => this.onCommand(payload.toString()));
    client.on('error', () => undefined);
    client.on('close', () => {
      if (this.client !== client) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      if (client.connected === false && this.stats.connected > 0 && client.disconnecting === false) this.stats.connected--;
      this.client = undefined;
      client.end(true);
      if (this.isStopped) return;
      this.stats.reconnects++;
      const delay = Math.min(30_000, 250 * 2 ** this.failures++) * (0.5 + Math.random() / 2);
      this.reconnectTimer = setTimeout(() => this.start(), delay);
    });
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.publishReading(), this.intervalMs);
  }

  private publishReading(): void {
    const client = this.client;
    if (!client?.connected || this.isStopped) return;
    // A random walk: readings move a little each time, as a real room's do.
    this.temperature += (Math.random() - 0.5) * 0.4;
    this.humidity = Math.min(100, Math.max(0, this.humidity + (Math.random() - 0.5)));
    this.battery = Math.max(0, this.battery - 0.01);
    const reading = {
      id: this.id,
      ts: new Date().toISOString(),
      temperature: Number(this.temperature.toFixed(2)),
      humidity: Number(this.humidity.toFixed(1)),
      battery: Number(this.battery.toFixed(2)),
    };
    client.publish(`${this.base}/telemetry`, JSON.stringify(reading), { qos: this.options.qos }, (error) => {
      if (error) return;
      this.stats.published++;
      this.readings++;
      if (this.options.maxReadings !== undefined && this.readings >= this.options.maxReadings) {
        this.onDone();
        return;
      }
      this.schedule();
    });
  }

  private onCommand(text: string): void {
    this.stats.commandsHandled++;
    if (text === 'ping') {
      this.client?.publish(`${this.base}/ack`, 'pong', { qos: 1 });
      return;
    }
    try {
      const command = JSON.parse(text) as { interval?: unknown };
      if (typeof command.interval === 'number' && command.interval >= 10) {
        this.intervalMs = command.interval;
        this.client?.publish(`${this.base}/ack`, JSON.stringify({ interval: this.intervalMs }), { qos: 1 });
        this.schedule();
      }
    } catch {
      // Not JSON: ignored, as a real device would.
    }
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      // A clean stop: say "offline" ourselves (the will is only for unclean ends).
      if (client.connected) await client.publishAsync(`${this.base}/status`, 'offline', { qos: 1, retain: true }).catch(() => undefined);
      await client.endAsync().catch(() => undefined);
    }
  }
}

export function startFleet(options: FleetOptions): Fleet {
  const stats: FleetStats = { connected: 0, published: 0, commandsHandled: 0, reconnects: 0 };
  let remaining = options.devices;
  let resolveFinished: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
  const sensors = Array.from({ length: options.devices }, (_, i) => {
    const id = `${options.prefix}-${String(i + 1).padStart(4, '0')}`;
    return new SimulatedSensor(id, options, stats, () => {
      if (--remaining === 0) resolveFinished();
    });
  });
  // Stagger the connects over a second, as devices powered on together would.
  sensors.forEach((sensor, i) => setTimeout(() => sensor.start(), Math.floor((i / options.devices) * 1000)));
  return {
    stats,
    finished,
    stop: async () => {
      await Promise.all(sensors.map((s) => s.stop()));
    },
  };
}
