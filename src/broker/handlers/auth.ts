/**
 * AUTH (MQTT 5 enhanced authentication, spec 4.12): the client's side of an exchange begun by
 * CONNECT (reason 0x18, continue), or a re-authentication on an established connection (0x19).
 */
import { MqttError, ReasonCode, type AuthPacket } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';
import { continueEnhancedAuth, startReauthentication } from './enhanced-auth.js';

export function handleAuth(connection: ClientConnection, packet: AuthPacket): void {
  if (connection.protocolVersion !== 5 || connection.authMethod === undefined) {
    // [5.0 MQTT-4.12.0-7] AUTH without an Authentication Method in CONNECT is a protocol error.
    throw new MqttError(ReasonCode.ProtocolError, 'AUTH without enhanced authentication');
  }
  const method = packet.properties?.authenticationMethod;
  if (method !== connection.authMethod) {
    // [5.0 MQTT-4.12.0-5] [5.0 MQTT-4.12.1-1] the method must stay the one chosen in CONNECT.
    throw new MqttError(ReasonCode.ProtocolError, 'AUTH with a different authentication method');
  }
  const data = packet.properties?.authenticationData;
  if (connection.state === 'connecting') {
    if (packet.reasonCode !== ReasonCode.ContinueAuthentication || !connection.authExchange) {
      throw new MqttError(ReasonCode.ProtocolError, 'unexpected AUTH during CONNECT');
    }
    void continueEnhancedAuth(connection, data);
    return;
  }
  if (connection.state !== 'connected') return;
  if (packet.reasonCode === ReasonCode.ReAuthenticate) {
    if (connection.authExchange) throw new MqttError(ReasonCode.ProtocolError, 're-authentication already under way');
    startReauthentication(connection, method, data);
    return;
  }
  if (packet.reasonCode === ReasonCode.ContinueAuthentication && connection.authExchange) {
    void continueEnhancedAuth(connection, data);
    return;
  }
  throw new MqttError(ReasonCode.ProtocolError, `unexpected AUTH reason code ${packet.reasonCode}`);
}
