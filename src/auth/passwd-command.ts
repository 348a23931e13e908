/**
 * `midge passwd [-c] [-b] [-D] <file> <user> [password]`, like mosquitto_passwd: -c creates (or
 * overwrites) the file, -b takes the password from the command line, -D deletes the user;
 * otherwise the password is asked twice. Writes atomically (temp file + rename), mode 0600.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { hashPasswordV7, parsePasswordLine } from './password-file.js';

export interface PasswdIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Asks for a line (the password); defaults to reading standard input. */
  prompt?: (question: string) => Promise<string>;
}

const USAGE = 'usage: midge passwd [-c] [-b] [-D] <file> <user> [password]';

function defaultPrompt(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
    process.stderr.write(question);
    rl.once('line', (line) => {
      rl.close();
      resolve(line);
    });
    rl.once('close', () => resolve(''));
  });
}

export async function runPasswdCommand(argv: readonly string[], io: PasswdIo): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('-')));
  const args = argv.filter((a) => !a.startsWith('-'));
  const fail = (message: string): number => {
    io.stderr.write(`midge passwd: ${message}\n`);
    return 1;
  };
  for (const flag of flags) if (!['-c', '-b', '-D'].includes(flag)) return fail(`unknown option ${flag}; ${USAGE}`);
  const isBatch = flags.has('-b');
  const [file, user, givenPassword] = args;
  if (!file || !user || (isBatch && givenPassword === undefined) || (!isBatch && args.length > 2)) return fail(USAGE);
  if (user.includes(':')) return fail('user names cannot contain ":"');

  const lines = flags.has('-c') || !existsSync(file) ? [] : readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (!flags.has('-c') && !existsSync(file)) return fail(`${file} does not exist (use -c to create it)`);
  // Validate what is there: never rewrite a file we cannot read.
  try {
    lines.forEach((line, i) => {
      if (!line.trim().startsWith('#')) parsePasswordLine(file, i + 1, line.trim());
    });
  } catch (error) {
    return fail((error as Error).message);
  }
  const others = lines.filter((l) => l.slice(0, l.lastIndexOf(':')) !== user);
  if (flags.has('-D')) {
    if (others.length === lines.length) return fail(`user ${user} not found`);
    write(file, others);
    return 0;
  }
  let password = givenPassword;
  if (password === undefined) {
    const prompt = io.prompt ?? defaultPrompt;
    password = await prompt('Password: ');
    const again = await prompt('Reenter password: ');
    if (password !== again) return fail('passwords do not match');
  }
  if (password === '') return fail('empty password');
  write(file, [...others, `${user}:${hashPasswordV7(password)}`]);
  return 0;
}

function write(file: string, lines: string[]): void {
  const temp = `${file}.tmp-${process.pid}`;
  writeFileSync(temp, lines.length > 0 ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
  renameSync(temp, file);
}
