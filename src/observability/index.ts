export { createLogger, type Logger } from './logger.js';
export { BrokerMetrics, type QosCounts } from './metrics.js';
export { jsonView, registerCounterTable, streamView, sysView, type CounterRow, type CounterTable, type LabelledRow, type LabelledValue, type MetricType, type NumberRow, type QosRow, type StreamPlace, type StreamReading, type TextRow } from './counters.js';
export { OpsHttpServer, type HttpRoute, type HttpResponse, type HttpServerOptions, type HttpStreamSink } from './http.js';
export { registerAuthMetrics, type AuthMetricsSource } from './auth-metrics.js';
export { ClientEventLog, CLIENT_LINES_PER_SECOND, type ClientEvent, type SummaryClock } from './client-event-log.js';
export { statusMetrics, type StatusMetrics } from './status-metrics.js';
