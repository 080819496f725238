import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configVariableNames, loadConfig } from '../../../src/config.js';
import { type ComposeService, commandOf, environmentOf, readCompose } from '../../helpers/compose-file.js';

const root = new URL('../../../', import.meta.url);
const { raw, compose } = readCompose(new URL('compose.yaml', root));
const services = compose.services;
const service = (name: string): ComposeService => {
  const found = services[name];
  if (!found) throw new Error(`compose.yaml has no service ${name}`);
  return found;
};

/** The OpenTelemetry variables the SDK and our preload honour (docs/contract.md §2 `OTEL_*`). */
const OTEL_VARIABLES = new Set([
  'OTEL_SDK_DISABLED',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_METRIC_EXPORT_INTERVAL',
  'OTEL_LOG_LEVEL',
]);

/** The services that run the API's image or source: their environment is read by src/config.ts. */
const API_SERVICES = ['api', 'migrate', 'api-dev'];

/** Host port published for a container port, e.g. 5210 for "127.0.0.1:5210:5210". */
function hostPort(s: ComposeService, containerPort: number): number | undefined {
  for (const p of s.ports ?? []) {
    if (typeof p === 'string') {
      const parts = p.split(':');
      if (Number(parts.at(-1)) === containerPort) return Number(parts.at(-2));
    } else if (p.target === containerPort) {
      return Number(p.published);
    }
  }
  return undefined;
}

function secretFiles(s: ComposeService): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of s.secrets ?? []) {
    const name = typeof entry === 'string' ? entry : entry.source;
    const target = typeof entry === 'string' ? `/run/secrets/${name}` : (entry.target ?? `/run/secrets/${name}`);
    files.set(target, compose.secrets?.[name]?.file ?? '');
  }
  return files;
}

describe('compose.yaml', () => {
  it('is valid against the Compose Specification schema', () => {
    const schema = JSON.parse(readFileSync(new URL('test/fixtures/vendor/compose-spec.json', root), 'utf8')) as Record<string, unknown>;
    // The schema names its draft-07 meta-schema by an https URL Ajv does not know; the draft is Ajv's default.
    delete schema.$schema;
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const valid = validate(raw);
    expect(valid ? [] : validate.errors?.map((e) => `${e.instancePath} ${e.message}`)).toEqual([]);
  });

  it('runs the original plan: PostgreSQL 18, Redis 7, Qdrant 1.15 or later, an OTel collector, Jaeger and the API image', () => {
    expect(service('postgres').image).toBe('postgres:18');
    expect(service('redis').image).toBe('redis:7');
    const qdrant = /^qdrant\/qdrant:v(\d+)\.(\d+)/.exec(service('qdrant').image ?? '');
    expect(qdrant && (Number(qdrant[1]) > 1 || Number(qdrant[2]) >= 15)).toBe(true);
    expect(JSON.stringify(service('otel-collector').build)).toContain('otel/opentelemetry-collector-contrib:');
    expect(service('jaeger').image).toMatch(/^jaegertracing\//);
    expect(service('api').build).toMatchObject({ context: '.', target: 'runtime' });
  });

  it('publishes the port plan on the host: API 5210, PostgreSQL 5220, Qdrant 5230, Redis 5240, Jaeger UI 16686', () => {
    expect(hostPort(service('api'), 5210)).toBe(5210);
    expect(hostPort(service('postgres'), 5432)).toBe(5220);
    expect(hostPort(service('qdrant'), 6333)).toBe(5230);
    expect(hostPort(service('redis'), 6379)).toBe(5240);
    expect(hostPort(service('jaeger'), 16686)).toBe(16686);
  });

  it('gives every long-running service a health check, and every dependency waits for health', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name === 'migrate') {
        expect(s.healthcheck?.disable).toBe(true);
        continue;
      }
      expect(s.healthcheck?.test, `${name} health check`).toBeDefined();
      // No curl in the API image, the collector's or Qdrant's.
      expect(JSON.stringify(s.healthcheck?.test), name).not.toMatch(/\bcurl\b/);
      for (const [dependency, { condition }] of Object.entries(s.depends_on ?? {})) {
        const expected = dependency === 'migrate' ? 'service_completed_successfully' : 'service_healthy';
        expect(condition, `${name} → ${dependency}`).toBe(expected);
      }
    }
  });

  it('runs migrations once, from the API image, before the API starts', () => {
    const migrate = service('migrate');
    expect(migrate.image).toBe(service('api').image);
    expect(migrate.build).toEqual(service('api').build);
    expect(commandOf(migrate)).toEqual(['node', 'dist/cli/migrate.js', 'up']);
    expect(service('api').depends_on).toMatchObject({ migrate: { condition: 'service_completed_successfully' } });
    expect(migrate.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
  });

  it('keeps state in named volumes', () => {
    const named = Object.keys(compose.volumes ?? {});
    for (const [name, mount] of [
      ['postgres', '/var/lib/postgresql'],
      ['redis', '/data'],
      ['qdrant', '/qdrant/storage'],
    ] as const) {
      const volume = (service(name).volumes ?? []).map(String).find((v) => v.endsWith(`:${mount}`));
      expect(volume, name).toBeDefined();
      expect(named).toContain(volume?.split(':')[0]);
    }
  });

  it('gives the API services only variables that src/config.ts (or OpenTelemetry) knows', () => {
    const known = new Set(configVariableNames());
    for (const name of API_SERVICES) {
      const unknown = Object.keys(environmentOf(service(name))).filter((v) => !known.has(v) && !OTEL_VARIABLES.has(v));
      expect(unknown, name).toEqual([]);
    }
  });

  it.each(['api', 'migrate'])('gives %s a valid production configuration, with the JWT keys from mounted secrets', (name) => {
    const s = service(name);
    const env = environmentOf(s);
    const files = secretFiles(s);
    const read: string[] = [];
    const result = loadConfig(env, (path) => {
      read.push(path);
      if (!files.has(path)) throw Object.assign(new Error('not mounted'), { code: 'ENOENT' });
      return path.includes('private') ? '-----BEGIN PRIVATE KEY-----\n…' : '-----BEGIN PUBLIC KEY-----\n…';
    });
    expect(result.ok ? [] : result.problems).toEqual([]);
    expect(result.ok && result.config.nodeEnv).toBe('production');
    expect(read.sort()).toEqual([...files.keys()].sort());
    // The keys come from files `make secrets` writes into a directory git ignores.
    for (const file of files.values()) expect(file).toMatch(/^\.\/deploy\/secrets\/jwt_(private|public)\.pem$/);
    expect(readFileSync(new URL('deploy/secrets/.gitignore', root), 'utf8')).toMatch(/^\*$/m);
  });

  it('points the API at the stack: each URL names a service of this file on its container port', () => {
    const env = environmentOf(service('api'));
    const target = (url: string | undefined) => {
      const u = new URL(url ?? '');
      return `${u.hostname}:${u.port}`;
    };
    expect(target(env.DATABASE_URL)).toBe('postgres:5432');
    expect(target(env.REDIS_URL)).toBe('redis:6379');
    expect(target(env.QDRANT_URL)).toBe('qdrant:6333');
    expect(target(env.OTEL_EXPORTER_OTLP_ENDPOINT)).toBe('otel-collector:4318');
  });

  it('has the collector receive OTLP/HTTP on 4318 from other containers and export traces to Jaeger', () => {
    const config = parse(readFileSync(new URL('deploy/otel-collector.yaml', root), 'utf8')) as {
      receivers: { otlp: { protocols: { http: { endpoint: string } } } };
      exporters: Record<string, { endpoint?: string }>;
      service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } };
    };
    expect(config.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    const traces = config.service.pipelines.traces;
    expect(traces.receivers).toContain('otlp');
    const endpoints = traces.exporters.map((name) => config.exporters[name]?.endpoint);
    expect(endpoints).toContain('jaeger:4317');
    expect(services.jaeger).toBeDefined();
    const mounted = (service('otel-collector').volumes ?? []).map(String);
    expect(mounted.some((v) => v.startsWith('./deploy/otel-collector.yaml:'))).toBe(true);
  });
});
