export { TcpListener } from './tcp.js';
export { TlsListener, certificateIdentity, type TlsOptions } from './tls.js';
export { WebSocketListener, type WebSocketOptions } from './ws.js';
