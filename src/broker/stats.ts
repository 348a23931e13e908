/** Counters the broker keeps about itself ($SYS and /metrics read them later). */
import type { DropReason } from '../session/index.js';

export class BrokerStats {
  readonly startedAt = Date.now();
  connectionsAccepted = 0;
  clientsConnected = 0;
  clientsMaximum = 0;
  connectsTotal = 0;
  messagesReceived = 0;
  messagesSent = 0;
  readonly messagesReceivedByQos: [number, number, number] = [0, 0, 0];
  readonly messagesSentByQos: [number, number, number] = [0, 0, 0];
  readonly disconnectsByReason: Record<string, number> = {};
  /** Refused CONNECTs by MQTT 5 reason code (hex), e.g. "0x86". */
  readonly connectsRefusedByReason: Record<string, number> = {};
  bytesReceived = 0;
  bytesSent = 0;
  protocolViolations = 0;
  retainedRefused = 0;
  publishThrottled = 0;
  connectsRateLimited = 0;
  readonly dropped: Record<DropReason, number> = { 'queue-full': 0, 'offline-qos0': 0, expired: 0, 'too-large': 0 };
}
