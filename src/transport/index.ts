export { TcpListener } from './tcp.js';
export { parseProxyHeader, readProxyHeader, ProxyProtocolError, type ProxyHeader } from './proxy-protocol.js';
export { TlsListener, certificateIdentity, type TlsOptions } from './tls.js';
export { WebSocketListener, type WebSocketOptions } from './ws.js';
