export { Connector, type ConnectorState, type ConnectorStatus, type SinkFactory } from './connector.js';
export { brokerHost, type ConnectorHost, type ConnectorSession, type ConnectorSessionOptions } from './host.js';
export { createSink } from './sinks.js';
export { SinkError, asSinkError, type SinkErrorClass } from './errors.js';
export { Template, TemplateError, resolveSecrets } from './template.js';
export { envelopeOf, type Envelope } from './envelope.js';
export type { ConnectorMessage, Sink } from './types.js';
export { connectorRoutes } from './admin-routes.js';
export { registerConnectorMetrics } from './metrics.js';
