/** Start and stop for the servers behind every listener type. */
import type { AddressInfo, Server } from 'node:net';

export function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** "mqtts://host:port" with the bound port once there is one. */
export function describeListener(scheme: string, host: string, configuredPort: number, server: Server | undefined, path = ''): string {
  const address = server?.address();
  const port = address && typeof address === 'object' ? address.port : configuredPort;
  return `${scheme}://${host}:${port}${path}`;
}
