/**
 * The kill soak: a Midge child process (level store, a bridge to a second Midge) is SIGKILLed at
 * random moments — sometimes while SIGSTOPped, as a stalled SD card looks — under mixed load, and
 * restarted on the same data dir, `cycles` times. At the end every acknowledged message must have
 * arrived (QoS 2 exactly once), in order per publisher, the retained state must equal the last
 * acknowledged writes, every will of a client connected at a kill must have gone out, and no
 * session may be lost. Prints the counts; exits non-zero on any violation.
 */
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { runCli, spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { prng } from '../helpers/prng.js';
import { makeTempDir } from '../helpers/temp.js';
import { Collector, connectPersistent, figures, isAllDelivered, probeSessionPresent, RetainedWriter, WindowedPublisher, type StreamFigures } from './mqtt-actors.js';

export interface KillSoakOptions {
  cycles: number;
  fsync: boolean;
  seed: number;
  /** SIGSTOP/SIGCONT pauses in some cycles. */
  pauses: boolean;
}

const RETAINED_TOPICS = ['soak/ret/0', 'soak/ret/1', 'soak/ret/2', 'soak/ret/3'];
/** Subscribers may be away for whole cycles with the publishers running: no refusals wanted. */
const LIFTED_LIMITS = { MIDGE_LIMITS__MAX_QUEUED_MESSAGES: '10000000', MIDGE_LIMITS__MAX_QUEUED_BYTES: String(2 * 1024 ** 3) };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function connected(client: MqttClient): Promise<void> {
  return client.connected ? Promise.resolve() : new Promise((resolve) => client.once('connect', () => resolve()));
}

/** Reads the retained values under soak/ret/+ from a fresh clean client. */
async function readRetained(port: number): Promise<Map<string, number>> {
  const probe = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clean: true, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
  probe.on('error', () => undefined);
  const values = new Map<string, number>();
  try {
    await connected(probe);
    const all = new Promise<void>((resolve) => {
      probe.on('message', (topic, payload) => {
        values.set(topic, Number(payload.toString()));
        if (values.size === RETAINED_TOPICS.length) resolve();
      });
    });
    await probe.subscribeAsync('soak/ret/+', { qos: 1 });
    await Promise.race([all, sleep(10_000)]);
  } finally {
    await probe.endAsync(true);
  }
  return values;
}

export async function runKillSoak(options: KillSoakOptions): Promise<boolean> {
  const startedAt = performance.now();
  const random = prng(options.seed);
  const dir = await makeTempDir('midge-soak-');
  const remoteDir = await makeTempDir('midge-soak-remote-');
  const problems: string[] = [];
  let isKeepingData = false;
  let remote: BrokerProcess | undefined;
  let broker: BrokerProcess | undefined;
  const clients: MqttClient[] = [];
  try {
    remote = await spawnBroker(['--port', '0', '--data-dir', remoteDir, '--log-level', 'info'], 60_000);
    const remoteSub = new Collector();
    const remoteSubscriber = connectPersistent(remote.port, 'soak-remote-sub');
    remoteSubscriber.on('message', remoteSub.onMessage);
    clients.push(remoteSubscriber);
    await connected(remoteSubscriber);
    await remoteSubscriber.subscribeAsync('site/soak/bridge/#', { qos: 1 });

    const configFile = path.join(dir, 'midge.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        bridges: [
          {
            name: 'soak',
            url: `mqtt://127.0.0.1:${remote.port}`,
            clientId: 'soak-gw',
            protocolVersion: 4,
            topics: [{ pattern: 'soak/bridge/#', direction: 'out', qos: 1, remotePrefix: 'site/' }],
            reconnectMinMs: 50,
            reconnectMaxMs: 500,
          },
        ],
      }),
    );
    const dataDir = path.join(dir, 'data');
    const brokerArgs = (port: number): string[] => ['--config', configFile, '--port', String(port), '--data-dir', dataDir, '--log-level', 'info', ...(options.fsync ? ['--fsync'] : [])];
    // The admin API tells what the broker holds for a client when something did not arrive.
    const httpPort = await freePort();
    const brokerEnv = { ...LIFTED_LIMITS, MIDGE_HTTP__ENABLED: 'true', MIDGE_HTTP__PORT: String(httpPort) };
    const describeClient = async (clientId: string): Promise<string> =>
      fetch(`http://127.0.0.1:${httpPort}/api/v1/clients/${encodeURIComponent(clientId)}`).then((r) => r.text(), (e: Error) => e.message);
    broker = await spawnBroker(brokerArgs(0), 60_000, brokerEnv);
    const port = broker.port;

    const subA = new Collector();
    const subB = new Collector();
    const shared = [new Collector(), new Collector()];
    let subscriberA = connectPersistent(port, 'soak-sub-a');
    let subscriberB = connectPersistent(port, 'soak-sub-b');
    subscriberA.on('message', subA.onMessage);
    subscriberB.on('message', subB.onMessage);
    await Promise.all([connected(subscriberA), connected(subscriberB)]);
    await subscriberA.subscribeAsync({ 'soak/q1': { qos: 2 }, 'soak/q2': { qos: 2 }, 'soak/will/+': { qos: 1 } });
    await subscriberB.subscribeAsync({ 'soak/q1': { qos: 2 }, 'soak/q2': { qos: 2 } });
    const members = shared.map((collector, i) => {
      const member = connectPersistent(port, `soak-share-${i}`);
      member.on('message', collector.onMessage);
      clients.push(member);
      return member;
    });
    for (const member of members) {
      await connected(member);
      await member.subscribeAsync('$share/soak/soak/shared', { qos: 1 });
    }

    const retainer = new RetainedWriter(connectPersistent(port, 'soak-retain'), RETAINED_TOPICS);
    const p1 = new WindowedPublisher(connectPersistent(port, 'soak-p1'), 'soak/q1', 1, 32);
    const p2 = new WindowedPublisher(connectPersistent(port, 'soak-p2'), 'soak/q2', 2, 32);
    const pShared = new WindowedPublisher(connectPersistent(port, 'soak-pshare'), 'soak/shared', 1, 16);
    const pBridge = new WindowedPublisher(connectPersistent(port, 'soak-pbridge'), 'soak/bridge/b', 1, 16);
    const publishers = [p1, p2, pShared, pBridge];
    clients.push(retainer.client, ...publishers.map((p) => p.client));
    await Promise.all([retainer.client, ...publishers.map((p) => p.client)].map(connected));
    await retainer.seed();
    retainer.start();
    for (const p of publishers) p.start();

    // Two client instances fighting over one session would look like a stalled subscriber.
    const takeovers = new Map<string, number>();
    const noteTakeovers = (process: BrokerProcess): void => {
      for (const l of process.logs) {
        if (l.msg === 'client disconnected' && l.reason === 'session-taken-over') takeovers.set(String(l.clientId), (takeovers.get(String(l.clientId)) ?? 0) + 1);
      }
    };
    const armedWills: string[] = [];
    let pauses = 0;
    let pausedKills = 0;
    let retainedChecks = 0;
    let awayCycles = 0;
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      // A client connected at the kill: its will is due when the broker comes back.
      const willTopic = `soak/will/${cycle}`;
      const willClient = connectPersistent(port, `soak-will-${cycle}`, { reconnectPeriod: 0, will: { topic: willTopic, payload: Buffer.from('gone'), qos: 1, retain: false } });
      clients.push(willClient);
      // Subscribers partly offline: away for the rest of this cycle, back after the restart.
      const isAAway = random() < 0.2;
      const isBAway = random() < 0.4;
      if (isAAway) await subscriberA.endAsync();
      if (isBAway) await subscriberB.endAsync();
      if (isAAway || isBAway) awayCycles++;
      await Promise.race([connected(willClient), sleep(5000)]);
      if (willClient.connected) armedWills.push(willTopic);

      await sleep(700 + random() * 1800);
      if (options.pauses && random() < 0.25) {
        broker.child.kill('SIGSTOP');
        pauses++;
        await sleep(300 + random() * 1500);
        if (random() < 0.7) {
          broker.child.kill('SIGCONT');
          await sleep(random() * 500);
        } else {
          pausedKills++;
        }
      }
      // What was acknowledged before the kill is the floor of what the restart must hold.
      const retainedFloor = new Map(retainer.lastAcked);
      broker.child.kill('SIGKILL');
      await broker.exited;
      noteTakeovers(broker);
      const refusals = broker.logs.filter((l) => l.msg === 'queue full; newest messages are refused').length;
      if (refusals > 0) problems.push(`cycle ${cycle}: the broker refused messages (queue full)`);
      try {
        broker = await spawnBroker(brokerArgs(port), 60_000, brokerEnv);
      } catch (error) {
        // A store the broker refuses after a kill is a finding: keep it for a look.
        isKeepingData = true;
        throw error;
      }
      if (isAAway) {
        subscriberA = connectPersistent(port, 'soak-sub-a');
        subscriberA.on('message', subA.onMessage);
      }
      if (isBAway) {
        subscriberB = connectPersistent(port, 'soak-sub-b');
        subscriberB.on('message', subB.onMessage);
      }

      const retained = await readRetained(port);
      for (const topic of RETAINED_TOPICS) {
        retainedChecks++;
        const value = retained.get(topic);
        const floor = retainedFloor.get(topic)!;
        const ceiling = retainer.lastSent.get(topic)!;
        if (value === undefined || value < floor || value > ceiling) {
          problems.push(`cycle ${cycle}: retained ${topic} is ${value} after the restart; acknowledged before the kill: ${floor}, written at most: ${ceiling}`);
        }
      }
      if (cycle % 10 === 9 || cycle === options.cycles - 1) {
        const seconds = ((performance.now() - startedAt) / 1000).toFixed(0);
        process.stdout.write(`  cycle ${cycle + 1}/${options.cycles} (${seconds} s): acked q1 ${p1.acked.size}, q2 ${p2.acked.size}, shared ${pShared.acked.size}, bridge ${pBridge.acked.size}; problems so far ${problems.length}\n`);
      }
    }
    clients.push(subscriberA, subscriberB);

    await Promise.all([...publishers.map((p) => p.stop()), retainer.stop()]);
    const isDrained = (): boolean =>
      isAllDelivered(p1, [subA.list('soak/q1')]) &&
      isAllDelivered(p1, [subB.list('soak/q1')]) &&
      isAllDelivered(p2, [subA.list('soak/q2')]) &&
      isAllDelivered(p2, [subB.list('soak/q2')]) &&
      isAllDelivered(pShared, shared.map((c) => c.list('soak/shared'))) &&
      isAllDelivered(pBridge, [remoteSub.list('site/soak/bridge/b')]) &&
      armedWills.every((t) => subA.list(t).length > 0);
    await waitFor(isDrained, 180_000, 'every acknowledged message to arrive').catch(async () => {
      problems.push('not everything acknowledged arrived within 180 s of the last restart');
      for (const [name, client] of [['soak-sub-a', subscriberA], ['soak-sub-b', subscriberB]] as const) {
        const recent = broker!.logs.filter((l) => l.clientId === name).slice(-6);
        problems.push(`${name}: client connected ${client.connected}, reconnecting ${client.reconnecting}; broker says ${await describeClient(name)}; its last log lines ${JSON.stringify(recent)}`);
      }
    });

    noteTakeovers(broker);
    const streams: StreamFigures[] = [
      figures('QoS 1 soak/q1 -> sub A', p1, [subA.list('soak/q1')], true),
      figures('QoS 1 soak/q1 -> sub B', p1, [subB.list('soak/q1')], true),
      figures('QoS 2 soak/q2 -> sub A', p2, [subA.list('soak/q2')], true),
      figures('QoS 2 soak/q2 -> sub B', p2, [subB.list('soak/q2')], true),
      // Order across a shared group is not promised (a member's backlog moves when it leaves).
      figures('QoS 1 $share soak/shared -> 2 members', pShared, shared.map((c) => c.list('soak/shared')), false),
      figures('QoS 1 soak/bridge/b -> bridge -> remote', pBridge, [remoteSub.list('site/soak/bridge/b')], true),
    ];
    for (const s of streams) {
      if (s.lost > 0) problems.push(`${s.name}: ${s.lost} acknowledged messages never delivered, e.g. ${s.lostExamples.join(',')}`);
      if (!s.isOrdered) problems.push(`${s.name}: first deliveries out of publish order: ${s.firstInversion}`);
      if (s.name.startsWith('QoS 2') && s.duplicates > 0) problems.push(`${s.name}: ${s.duplicates} duplicates (QoS 2 must be exactly once)`);
    }
    const missingWills = armedWills.filter((t) => subA.list(t).length === 0);
    if (missingWills.length > 0) problems.push(`${missingWills.length} wills of clients connected at a kill never arrived, e.g. ${missingWills.slice(0, 5).join(',')}`);

    const finalRetained = await readRetained(port);
    const retainedMismatches = RETAINED_TOPICS.filter((t) => finalRetained.get(t) !== retainer.lastAcked.get(t));
    for (const topic of retainedMismatches) problems.push(`final retained ${topic} is ${finalRetained.get(topic)}, last acknowledged write ${retainer.lastAcked.get(topic)}`);

    // No session lost: every persistent client's session is still there.
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    const localSessions = ['soak-sub-a', 'soak-sub-b', 'soak-share-0', 'soak-share-1', 'soak-retain', 'soak-p1', 'soak-p2', 'soak-pshare', 'soak-pbridge', ...armedWills.map((t) => `soak-will-${t.slice('soak/will/'.length)}`)];
    let sessionsPresent = 0;
    for (const clientId of localSessions) {
      if (await probeSessionPresent(port, clientId)) sessionsPresent++;
      else problems.push(`session ${clientId} lost`);
    }
    const bridgeSessionPresent = await probeSessionPresent(remote.port, 'soak-gw').catch(() => false);
    if (!bridgeSessionPresent) problems.push('the bridge session on the remote was lost');

    const seconds = (performance.now() - startedAt) / 1000;
    const out = process.stdout;
    out.write(
      `\nkill soak: ${options.cycles} SIGKILL cycles in ${seconds.toFixed(0)} s (seed ${options.seed}, fsync ${options.fsync ? 'on' : 'off'}, ` +
        `${pauses} SIGSTOP pauses of which ${pausedKills} ended in the kill, ${awayCycles} cycles with a subscriber away)\n`,
    );
    // c-rej: publishes MQTT.js itself gave up on when a connection dropped (never acknowledged).
    out.write(`${'stream'.padEnd(42)} ${'sent'.padStart(8)} ${'acked'.padStart(8)} ${'c-rej'.padStart(6)} ${'delivered'.padStart(10)} ${'unique'.padStart(8)} ${'dups'.padStart(6)} ${'lost'.padStart(5)} order\n`);
    for (const s of streams) {
      out.write(
        `${s.name.padEnd(42)} ${String(s.sent).padStart(8)} ${String(s.acked).padStart(8)} ${String(s.rejectedByClient).padStart(6)} ${String(s.delivered).padStart(10)} ${String(s.unique).padStart(8)} ${String(s.duplicates).padStart(6)} ${String(s.lost).padStart(5)} ${s.isOrdered ? 'kept' : 'BROKEN'}${s.lateResends > 0 ? ` (${s.lateResends} late client resends)` : ''}\n`,
      );
    }
    out.write(
      `retained: ${RETAINED_TOPICS.length} topics, ${retainer.writes} writes, ${retainedChecks} after-restart checks (>= last acknowledged before the kill), final state equals last acknowledged: ${retainedMismatches.length === 0 ? 'yes' : 'NO'}\n` +
        `wills: ${armedWills.length} clients connected at a kill, ${armedWills.length - missingWills.length} wills delivered\n` +
        `sessions: ${sessionsPresent}/${localSessions.length} present at the end; bridge session on the remote ${bridgeSessionPresent ? 'present' : 'LOST'}\n` +
        `session takeovers seen: ${takeovers.size === 0 ? 'none' : [...takeovers].map(([id, n]) => `${id} ${n}`).join(', ')}\n`,
    );
    if (problems.length > 0) {
      out.write(`\nFAILED: ${problems.length} problems\n${problems.slice(0, 40).map((p) => `  - ${p}`).join('\n')}\n`);
      // What the store still holds says whether the broker lost track of something it stored.
      broker.child.kill('SIGKILL');
      await broker.exited;
      const check = await runCli(['store', 'check', '--data-dir', dataDir], 120_000);
      out.write(`store check of ${dataDir} after the run:\n${check.stdout}${check.stderr}`);
      isKeepingData = true;
      return false;
    }
    out.write('PASSED: nothing acknowledged was lost\n');
    return true;
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    for (const child of [broker, remote]) {
      if (child && child.child.exitCode === null && child.child.signalCode === null) {
        child.child.kill('SIGKILL');
        await child.exited;
      }
    }
    if (isKeepingData) process.stdout.write(`data kept for a look: ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
    await rm(remoteDir, { recursive: true, force: true });
  }
}
