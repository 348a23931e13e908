/**
 * DISCONNECT from the client: a normal one discards the will [3.1.1 MQTT-3.14.4-3] [5.0 MQTT-3.14.4-3]; MQTT 5 reason 0x04
 * asks for it to be published, and the Session Expiry Interval may be changed here.
 */
import { MqttError, ReasonCode, type DisconnectPacket } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';

export function handleDisconnect(connection: ClientConnection, packet: DisconnectPacket): void {
  const session = connection.session!;
  if (connection.protocolVersion === 5) {
    const expiry = packet.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      if (session.expiryInterval === 0 && expiry !== 0) {
        // A session that was to end with the connection cannot be extended now: a Protocol Error
        // (5.0 section 3.14.2.2.2, in a sentence without a statement id).
        throw new MqttError(ReasonCode.ProtocolError, 'session expiry set on DISCONNECT after 0 at CONNECT');
      }
      if (expiry === 0 && session.isPersistent) session.persist({ type: 'deleteSession', clientId: session.clientId });
      session.expiryInterval = expiry;
    }
  }
  connection.isDisconnectClean = packet.reasonCode !== ReasonCode.DisconnectWithWillMessage;
  connection.destroy('client-disconnect');
}
