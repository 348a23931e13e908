/**
 * npm run simulate -- --devices 500 --interval 1s --qos 1 --url mqtt://127.0.0.1:1883
 * Prints a line of totals every 5 seconds; Ctrl-C stops the fleet cleanly.
 */
import { parseArgs } from 'node:util';
import { startFleet } from './fleet.js';

function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!match) throw new Error(`--interval: expected e.g. 500ms, 1s or 2m, got ${JSON.stringify(text)}`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value : match[2] === 'm' ? value * 60_000 : value * 1000;
}

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    devices: { type: 'string', default: '10' },
    interval: { type: 'string', default: '1s' },
    qos: { type: 'string', default: '1' },
    prefix: { type: 'string', default: 'sim' },
    username: { type: 'string' },
    password: { type: 'string' },
    readings: { type: 'string' },
  },
});

const devices = Number(values.devices);
const qos = Number(values.qos);
if (!Number.isInteger(devices) || devices < 1) throw new Error('--devices: expected a positive integer');
if (qos !== 0 && qos !== 1 && qos !== 2) throw new Error('--qos: expected 0, 1 or 2');

const fleet = startFleet({
  url: values.url!,
  devices,
  intervalMs: parseDuration(values.interval!),
  qos,
  prefix: values.prefix!,
  ...(values.username ? { username: values.username } : {}),
  ...(values.password ? { password: values.password } : {}),
  ...(values.readings ? { maxReadings: Number(values.readings) } : {}),
});
const report = setInterval(() => {
  const s = fleet.stats;
  console.log(`devices connected ${s.connected}/${devices}, readings published ${s.published}, commands ${s.commandsHandled}, reconnects ${s.reconnects}`);
}, 5000);
const stop = async (): Promise<void> => {
  clearInterval(report);
  await fleet.stop();
  console.log(`stopped: ${fleet.stats.published} readings published`);
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
if (values.readings) void fleet.finished.then(stop);
