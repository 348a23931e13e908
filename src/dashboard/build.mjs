// Builds the dashboard into dist/dashboard/ (or the directory given as the first argument):
// one ES module bundle for the first view, the MQTT console as a chunk loaded on demand, one
// CSS file, and a .gz copy of each text file for the admin listener to send as is.
// Build-time only: esbuild, Preact, uPlot and MQTT.js are devDependencies bundled here.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(process.argv[2] ?? path.join(here, '../../dist/dashboard'));

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const result = await build({
  metafile: true,
  entryPoints: { app: path.join(here, 'main.tsx') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  // ES2020: every browser of the last few years, as on a Raspberry Pi OS desktop (Chromium 80+, Firefox 78+, Safari 14+).
  target: 'es2020',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
for (const file of ['index.html', 'favicon.svg']) copyFileSync(path.join(here, file), path.join(outdir, file));

// The first view: the page, its CSS and icon, app.js and the chunks it imports statically
// (the MQTT console's chunk is a dynamic import, fetched only when the console connects).
const firstViewFiles = new Set(['index.html', 'app.css', 'favicon.svg']);
const addStatic = (file) => {
  const name = path.basename(file);
  if (firstViewFiles.has(name)) return;
  firstViewFiles.add(name);
  for (const imported of result.metafile.outputs[file]?.imports ?? []) if (imported.kind === 'import-statement') addStatic(imported.path);
};
addStatic(Object.keys(result.metafile.outputs).find((file) => path.basename(file) === 'app.js'));
let total = 0;
let firstView = 0;
for (const name of readdirSync(outdir)) {
  if (!/\.(html|js|css|svg)$/.test(name)) continue;
  const gz = gzipSync(readFileSync(path.join(outdir, name)), { level: 9 });
  writeFileSync(path.join(outdir, `${name}.gz`), gz);
  total += gz.length;
  if (firstViewFiles.has(name)) firstView += gz.length;
}
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const raw = readdirSync(outdir).filter((n) => !n.endsWith('.gz')).reduce((sum, n) => sum + statSync(path.join(outdir, n)).size, 0);
console.log(`dashboard: ${path.relative(process.cwd(), outdir) || outdir} — first view ${kib(firstView)} gzipped; all files ${kib(total)} gzipped (${kib(raw)} raw)`);
