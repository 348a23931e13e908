export { TcpListener, type TcpOptions } from './tcp.js';
export { parseProxyHeader, readProxyHeader, ProxyProtocolError, PROXY_HEADER_TIMEOUT_MS, type ProxyHeader } from './proxy-protocol.js';
export { TlsListener, certificateIdentity, type TlsOptions, type TlsMaterial } from './tls.js';
export { WebSocketListener, forwardedClient, type WebSocketOptions } from './ws.js';
