/**
 * Ending an amqplib connection for good. amqplib stops its heartbeat timers only on a clean close
 * (CloseOk) or a socket 'end'; a socket destroyed by us emits neither, so its timers would keep
 * the process alive until the heartbeat timed out — a `midge` asked to stop waited minutes. Here
 * the timers go with the socket, whatever the server did.
 */
import type { ChannelModel } from 'amqplib';

interface AmqpInternals {
  connection?: { stream?: { destroy(): void }; heartbeater?: { clear(): void } | null };
}

/** Cuts the connection now: socket and heartbeat timers. */
export function destroyAmqpConnection(connection: ChannelModel | undefined): void {
  const inner = (connection as unknown as AmqpInternals | undefined)?.connection;
  inner?.heartbeater?.clear();
  inner?.stream?.destroy();
}

/** A clean close if the server answers within `graceMs` (a hung one never would), then cut. */
export async function closeAmqpConnection(connection: ChannelModel | undefined, graceMs = 1000): Promise<void> {
  if (!connection) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([connection.close().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  destroyAmqpConnection(connection);
}
