/**
 * MQTT 5 enhanced authentication (spec 4.12): a CONNECT with an Authentication Method runs an
 * exchange of AUTH packets before its CONNACK; an established connection re-authenticates the
 * same way (AUTH 0x19). The AUTH handler (auth.ts) and CONNECT (connect.ts) both step it here.
 */
import { ReasonCode, type ConnectPacket } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';
import { refuseConnect } from '../replies.js';

/** CONNECT with an Authentication Method: begins the exchange; `accept` finishes CONNECT once it succeeds. */
export function startEnhancedAuth(
  connection: ClientConnection,
  packet: ConnectPacket,
  clientId: string,
  method: string,
  data: Buffer | undefined,
  accept: (finalData: Buffer | undefined) => Promise<void>,
): void {
  const authenticator = connection.broker.enhancedAuthenticators.get(method);
  if (!authenticator) return refuseConnect(connection, ReasonCode.BadAuthenticationMethod, `authentication method ${method} not offered`);
  connection.authMethod = method;
  connection.readDuringAuthExchange();
  connection.authExchange = authenticator.begin({
    clientId,
    username: packet.username,
    remoteAddress: connection.remoteAddress,
    listenerIndex: connection.info.listenerIndex,
    isReauthentication: false,
  });
  connection.onAuthSuccess = accept;
  void continueEnhancedAuth(connection, data);
}

/** AUTH 0x19 on an established connection: a new exchange with the method agreed at CONNECT. */
export function startReauthentication(connection: ClientConnection, method: string, data: Buffer | undefined): void {
  const authenticator = connection.broker.enhancedAuthenticators.get(method)!;
  connection.authExchange = authenticator.begin({
    clientId: connection.clientId,
    username: connection.username,
    remoteAddress: connection.remoteAddress,
    listenerIndex: connection.info.listenerIndex,
    isReauthentication: true,
  });
  void continueEnhancedAuth(connection, data);
}

/**
 * One step of an AUTH exchange, at CONNECT or on re-authentication: AUTH 0x18 to continue, and at
 * the end either the CONNACK (through `onAuthSuccess`), AUTH 0x00 (re-authentication), or a refusal.
 */
export async function continueEnhancedAuth(connection: ClientConnection, data: Buffer | undefined): Promise<void> {
  const broker = connection.broker;
  const exchange = connection.authExchange!;
  const isReauth = connection.state === 'connected';
  let step;
  try {
    step = await exchange.step(data);
  } catch (error) {
    broker.logger.error({ err: error, clientId: connection.clientId }, 'enhanced authentication failed with an error');
    step = { status: 'failure' as const, reasonCode: ReasonCode.UnspecifiedError };
  }
  if (connection.isClosed) return;
  const method = connection.authMethod!;
  if (step.status === 'continue') {
    connection.send({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: method, authenticationData: step.data } });
    return;
  }
  connection.authExchange = undefined;
  if (step.status === 'failure') {
    const reasonCode = step.reasonCode ?? ReasonCode.NotAuthorized;
    if (isReauth) {
      // Failed re-authentication ends the connection [5.0 MQTT-4.12.1-2].
      connection.disconnectWithReason(reasonCode, 're-authentication failed');
      connection.destroy('connect-refused');
    } else {
      refuseConnect(connection, reasonCode, 'enhanced authentication failed');
    }
    return;
  }
  if (isReauth) {
    const properties: { authenticationMethod: string; authenticationData?: Buffer } = { authenticationMethod: method };
    if (step.data) properties.authenticationData = step.data;
    connection.send({ cmd: 'auth', reasonCode: ReasonCode.Success, properties });
    return;
  }
  const accept = connection.onAuthSuccess;
  connection.onAuthSuccess = undefined;
  try {
    await accept?.(step.data);
  } catch (error) {
    broker.logger.error({ err: error, clientId: connection.clientId }, 'CONNECT failed');
    if (!connection.isClosed) refuseConnect(connection, ReasonCode.ServerUnavailable, 'server error');
  }
}
