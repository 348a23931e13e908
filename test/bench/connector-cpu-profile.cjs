// Preloaded into the broker by `BENCH_CPU_PROF_DIR=<dir> npm run bench -- connectors` (NODE_OPTIONS
// may not carry --cpu-prof): profiles the whole process with the inspector and writes
// <dir>/broker-<pid>.cpuprofile when it exits.
const { Session } = require('node:inspector');
const { mkdirSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const dir = process.env.BENCH_BROKER_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // Same-thread inspector sessions answer synchronously, so this works in an exit handler.
    session.post('Profiler.stop', (error, result) => {
      if (error) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `broker-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
