/** Dispatch: one handler per packet type, after the connection-state rules of the protocol. */
import { MqttError, ReasonCode, type Packet } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';
import { handleAuth } from './auth.js';
import { handleConnect } from './connect.js';
import { handleDisconnect } from './disconnect.js';
import { handlePingreq } from './ping.js';
import { handlePuback } from './puback.js';
import { handlePubcomp } from './pubcomp.js';
import { handlePublish } from './publish.js';
import { handlePubrec } from './pubrec.js';
import { handlePubrel } from './pubrel.js';
import { handleSubscribe } from './subscribe.js';
import { handleUnsubscribe } from './unsubscribe.js';

export function dispatchPacket(connection: ClientConnection, packet: Packet): void {
  if (packet.cmd === 'connect') {
    handleConnect(connection, packet);
    return;
  }
  if (packet.cmd === 'auth') {
    handleAuth(connection, packet);
    return;
  }
  if (connection.state !== 'connected') {
    // [3.1.1 MQTT-3.1.0-1] [5.0 MQTT-3.1.0-1] the first packet must be CONNECT.
    if (connection.state === 'awaiting-connect') {
      connection.broker.logger.info({ remoteAddress: connection.remoteAddress, cmd: packet.cmd }, 'first packet is not CONNECT; closing');
      connection.destroy('protocol-error');
    }
    return;
  }
  switch (packet.cmd) {
    case 'publish':
      return handlePublish(connection, packet);
    case 'puback':
      return handlePuback(connection, packet);
    case 'pubrec':
      return handlePubrec(connection, packet);
    case 'pubrel':
      return handlePubrel(connection, packet);
    case 'pubcomp':
      return handlePubcomp(connection, packet);
    case 'subscribe':
      return handleSubscribe(connection, packet);
    case 'unsubscribe':
      return handleUnsubscribe(connection, packet);
    case 'pingreq':
      return handlePingreq(connection);
    case 'disconnect':
      return handleDisconnect(connection, packet);
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP only ever go from server to client.
      throw new MqttError(ReasonCode.ProtocolError, `${packet.cmd} is not sent by clients`);
  }
}
