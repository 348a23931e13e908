/** PINGREQ → PINGRESP [3.1.1 MQTT-3.12.4-1] [5.0 MQTT-3.12.4-1]; the keep-alive was already refreshed by the read. */
import type { ClientConnection } from '../context.js';

export function handlePingreq(connection: ClientConnection): void {
  connection.send({ cmd: 'pingresp' });
}
