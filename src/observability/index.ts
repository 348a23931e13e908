export { createLogger, type Logger } from './logger.js';
export { BrokerMetrics, type MetricsSource, type QosCounts } from './metrics.js';
export { OpsHttpServer, type HttpRoute, type HttpResponse, type HttpServerOptions, type HttpStreamSink } from './http.js';
export { registerAuthMetrics, type AuthMetricsSource } from './auth-metrics.js';
