/**
 * Takes docs/dashboard-overview.png: a broker with a dozen simulated sensors publishing at a
 * changing rate for a couple of minutes, then the overview in Chromium at 1280×800.
 *   node --import tsx test/dashboard/screenshot.ts [out.png] [seconds]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { createBroker } from '../../src/index.js';
import { createLogger } from '../../src/observability/index.js';
import { hasChromium, launchChromium } from './browser.js';

const out = path.resolve(process.argv[2] ?? 'docs/dashboard-overview.png');
const seconds = Number(process.argv[3] ?? 150);
if (!hasChromium) throw new Error('needs the Debian package chromium');

const dataDir = await mkdtemp(path.join(tmpdir(), 'midge-shot-'));
const broker = createBroker({
  listeners: [
    { type: 'mqtt', host: '127.0.0.1', port: 0 },
    { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
  ],
  store: { type: 'memory' },
  http: { enabled: true, host: '127.0.0.1', port: 0, token: null },
  sys: { interval: 0 },
  dataDir,
}, { logger: createLogger('warn') });
await broker.listen();
const url = `mqtt://127.0.0.1:${broker.address().port}`;
const sensors: MqttClient[] = [];
for (let i = 1; i <= 12; i++) sensors.push(await mqtt.connectAsync(url, { clientId: `greenhouse-sensor-${String(i).padStart(2, '0')}`, protocolVersion: i % 3 === 0 ? 4 : 5 }));
const gateway = await mqtt.connectAsync(url, { clientId: 'gateway-uplink', protocolVersion: 5 });
await gateway.subscribeAsync('greenhouse/#', { qos: 1 });
const logger = await mqtt.connectAsync(url, { clientId: 'history-logger', clean: false, protocolVersion: 4 });
await logger.subscribeAsync('greenhouse/+/temperature', { qos: 1 });
await logger.endAsync(); // offline: its queue grows
for (const [i, s] of sensors.entries()) await s.publishAsync(`greenhouse/bed-${i + 1}/config`, JSON.stringify({ interval: 1, unit: 'C' }), { retain: true, qos: 1 });

const startedAt = Date.now();
let tick = 0;
const timer = setInterval(() => {
  tick++;
  // A daily-looking swell: between one and four readings per sensor per tick.
  const phase = (Date.now() - startedAt) / 1000 / 40;
  const burst = 1 + Math.round(1.5 + 1.5 * Math.sin(phase));
  for (const [i, s] of sensors.entries()) {
    for (let b = 0; b < burst; b++) {
      s.publish(`greenhouse/bed-${i + 1}/temperature`, (20 + 3 * Math.sin(phase + i)).toFixed(2), { qos: 1 });
      if ((tick + i) % 3 === 0) s.publish(`greenhouse/bed-${i + 1}/humidity`, String(55 + (i % 7)), { qos: 0 });
    }
  }
}, 250);

await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const userDataDir = await mkdtemp(path.join(tmpdir(), 'midge-shot-chromium-'));
const context = await launchChromium(userDataDir);
const page = context.pages()[0] ?? (await context.newPage());
await page.emulateMedia({ colorScheme: 'light' });
await page.goto(`http://127.0.0.1:${broker.httpBoundAddress!.port}/dashboard/`);
await page.waitForSelector('#chart-messages canvas');
await page.waitForFunction("Number(document.querySelector('#chart-messages')?.getAttribute('data-points')) > 10");
await page.waitForTimeout(1500); // let the cards' first poll land
await page.screenshot({ path: out });
clearInterval(timer);
await context.close();
for (const s of sensors) await s.endAsync();
await gateway.endAsync();
await broker.close();
await rm(dataDir, { recursive: true, force: true });
await rm(userDataDir, { recursive: true, force: true });
console.log(`wrote ${out}`);
