/**
 * Builds dist/ once before the tests: the CLI and crash tests run the broker as a child process,
 * exactly as `npm start` does; the dashboard tests load the built UI from dist/dashboard/.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'src/tsconfig.json')], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [path.join(root, 'src/dashboard/build.mjs')], { cwd: root, stdio: 'inherit' });
}
