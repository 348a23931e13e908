/** PINGREQ → PINGRESP [MQTT-3.12.4-1]; the keep-alive was already refreshed by the read. */
import type { Connection } from '../connection.js';

export function handlePingreq(connection: Connection): void {
  connection.send({ cmd: 'pingresp' });
}
