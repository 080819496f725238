import { Type } from 'typebox';

export const LiveResponse = Type.Object(
  { status: Type.Literal('ok') },
  { $id: 'LiveResponse', description: 'The process is running', examples: [{ status: 'ok' }] },
);

export const ComponentHealth = Type.Object(
  {
    name: Type.Union([
      Type.Literal('postgres'),
      Type.Literal('redis'),
      Type.Literal('qdrant'),
      Type.Literal('event_bus'),
      Type.Literal('telemetry'),
    ]),
    status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy'), Type.Literal('disabled')]),
    response_time_ms: Type.Number(),
    error: Type.Union([Type.String(), Type.Null()]),
    details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  },
  { $id: 'ComponentHealth' },
);

const OverallStatus = Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]);

const componentExample = { name: 'postgres', status: 'healthy', response_time_ms: 1.4, error: null, details: { pool_size: 10 } };

export const ReadyResponse = Type.Object(
  { status: OverallStatus, components: Type.Array(ComponentHealth) },
  {
    $id: 'ReadyResponse',
    description: 'healthy (200) when every configured dependency answers, else unhealthy (503)',
    examples: [{ status: 'healthy', components: [componentExample] }],
  },
);

export const HealthResponse = Type.Object(
  {
    status: OverallStatus,
    version: Type.String(),
    uptime_s: Type.Number(),
    components: Type.Array(ComponentHealth),
  },
  {
    $id: 'HealthResponse',
    description: 'Each component with its status and timing; 503 when a required one is unhealthy',
    examples: [{ status: 'healthy', version: '0.1.0', uptime_s: 42.5, components: [componentExample] }],
  },
);
