export { TcpListener } from './tcp.js';
