/** The pino logger factory: one logger per broker, passed down, never a global. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return destination ? pino({ level, base: { name: 'midge' } }, destination) : pino({ level, base: { name: 'midge' } });
}
