import { Type } from 'typebox';

export const LiveResponse = Type.Object({ status: Type.Literal('ok') }, { $id: 'LiveResponse' });

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

export const ReadyResponse = Type.Object({ status: OverallStatus, components: Type.Array(ComponentHealth) }, { $id: 'ReadyResponse' });

export const HealthResponse = Type.Object(
  {
    status: OverallStatus,
    version: Type.String(),
    uptime_s: Type.Number(),
    components: Type.Array(ComponentHealth),
  },
  { $id: 'HealthResponse' },
);
