// Bundles the `midge` command (dist/cli.js, compiled by tsc) into dist/midge.mjs, what `npm start`
// and the Docker image run: one file for what accepting the first client needs, and on-demand
// chunks in dist/cli-chunks/ for what a dynamic import() reaches (the connectors' AMQP, Redis,
// PostgreSQL and HTTP clients, the cluster's NATS client): ~1.4 MB of JavaScript that is then
// neither parsed nor held unless configured. Measured on this 2-core machine: idle RSS 80.6 →
// ~69 MiB. Minified (names kept, so stack traces and class names still read): half the source
// V8 has to parse at start. Build-time only: esbuild is a devDependency.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * classic-level's JavaScript (and abstract-level's ~30 CommonJS files under it) goes into the
 * bundle: resolving, reading and wrapping them one by one was ~12% of start-up CPU. Only its
 * native addon loads from node_modules, through `classic-level/binding.js`, which finds the
 * prebuilt LevelDB next to itself (node-gyp-build looks beside its own __dirname).
 */
const nativeAddonOutside = {
  name: 'native-addon-outside',
  setup(build) {
    build.onResolve({ filter: /^\.\/binding(\.js)?$/ }, (args) =>
      /[\\/]classic-level[\\/]/.test(args.importer) ? { path: 'classic-level/binding.js', external: true } : undefined,
    );
  },
};

/**
 * readable-stream is a copy of Node's own streams for browsers and old Nodes (bl, under
 * mqtt-packet, takes its Duplex from it): on Node 20 the built-in `node:stream` is the same API,
 * and 90 KB (readable-stream, its string_decoder, abort-controller, event-target-shim) less to
 * parse at start.
 */
const nodeStreams = {
  name: 'node-streams',
  setup(build) {
    build.onResolve({ filter: /^readable-stream$/ }, () => ({ path: 'node:stream', external: true }));
  },
};

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist');
rmSync(path.join(dist, 'cli-chunks'), { recursive: true, force: true });
await build({
  entryPoints: { midge: path.join(dist, 'cli.js') },
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'cli-chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  // MQTT.js (the bridge), ws and yaml load from node_modules; so does the LevelDB addon (below).
  external: ['mqtt', 'ws', 'yaml'],
  plugins: [nativeAddonOutside, nodeStreams],
  // CommonJS dependencies inside an ES module bundle call require().
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
