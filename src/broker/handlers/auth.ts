/** AUTH (MQTT 5 enhanced authentication). Not offered yet, so an AUTH packet is a protocol error. */
import { MqttError, ReasonCode } from '../../protocol/index.js';

export function handleAuth(): void {
  // [MQTT-4.12.0-1] without an Authentication Method in CONNECT, AUTH must not be sent.
  throw new MqttError(ReasonCode.ProtocolError, 'AUTH without enhanced authentication');
}
