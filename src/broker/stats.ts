/**
 * Counters the broker keeps about itself: plain fields, incremented on the hot path. The views
 * ($SYS, /api/v1/stats, /metrics) are generated from the table in counters-table.ts, which reads them.
 */
import type { DropReason } from '../session/index.js';

export class BrokerStats {
  connectionsAccepted = 0;
  clientsConnected = 0;
  clientsMaximum = 0;
  connectsTotal = 0;
  messagesReceived = 0;
  messagesSent = 0;
  readonly messagesReceivedByQos: [number, number, number] = [0, 0, 0];
  readonly messagesSentByQos: [number, number, number] = [0, 0, 0];
  /** Payload bytes of the messages received (every ingest path; `bytesReceived` is socket bytes). */
  publishBytesReceived = 0;
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

  /** `startedAt`: epoch ms, from the broker's clock (uptime is measured on the same clock). */
  constructor(readonly startedAt: number = Date.now()) {}

  /**
   * The one place a message entering the broker is counted — client PUBLISH, will, bridge input,
   * connector and `POST /api/v1/publish` — before it is routed. `$SYS` and status topics the
   * broker publishes itself are not messages received and do not come here.
   */
  countReceived(qos: 0 | 1 | 2, payloadBytes: number): void {
    this.messagesReceived++;
    this.messagesReceivedByQos[qos]++;
    this.publishBytesReceived += payloadBytes;
  }
}
