import { isIP } from 'node:net';

/**
 * Configuration is read once, at start, from the environment (and `.env`, loaded by the
 * entry point). `loadConfig` is pure: it takes an env object and returns either a frozen
 * typed Config or every problem it found, so the entry point can print one line per
 * problem and exit 1 (REQ-002, docs/contract.md §2).
 */

export type NodeEnv = 'development' | 'test' | 'production';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly host: string;
  readonly port: number;
  readonly databaseUrl: string | undefined;
  readonly databasePoolMin: number;
  readonly databasePoolMax: number;
  readonly databaseStatementTimeoutMs: number;
  readonly migrateOnStart: boolean;
  readonly dataDir: string;
  /** REDIS_URL as given: one Redis (`redis:`/`rediss:`) or a cluster (`redis+cluster:`/`rediss+cluster:`). */
  readonly redisUrl: string | undefined;
  /** Set when REDIS_URL names a cluster (docs/adr/0027): its seed nodes and credentials. */
  readonly redisCluster: RedisClusterTarget | undefined;
  /** Per process on one Redis; per node on a cluster (docs/contract.md §5). */
  readonly redisMaxConnections: number;
  readonly qdrantUrl: string | undefined;
  readonly qdrantApiKey: string | undefined;
  readonly qdrantCollection: string;
  readonly qdrantVectorSize: number;
  readonly jwtPrivateKey: string | undefined;
  readonly jwtPublicKey: string | undefined;
  readonly jwtIssuer: string;
  readonly jwtAudience: string;
  readonly accessTokenExpireMinutes: number;
  readonly corsOrigins: readonly string[];
  readonly logLevel: LogLevel;
  /**
   * Whether a probe route (`/health/live`, `/health/ready`) answering 200 writes its
   * request-completed line: off by default, those are most of the lines in a deployment
   * (docs/adr/0026). Failures of a probe are always logged.
   */
  readonly logHealthProbes: boolean;
  readonly rateLimitPerMinuteIp: number;
  readonly rateLimitPerMinuteUser: number;
  readonly rateLimitPerMinuteProject: number;
  /** The limits' window (GCRA: limit per window); one minute by contract, shorter only to test the limiter quickly. */
  readonly rateLimitWindowMs: number;
  readonly trustedProxies: readonly string[];
  /** Outside production, dev-login answers loopback clients only unless this is set (docs/contract.md §13). */
  readonly devLoginAnyHost: boolean;
  readonly sseKeepaliveSeconds: number;
  readonly sseMaxBufferBytes: number;
  readonly sseReplayEvents: number;
  /** Event streams one instance holds at once; 0 = no cap (docs/contract.md §9, docs/adr/0028). */
  readonly sseMaxStreams: number;
  /** The centre of the jittered SSE `retry:` hint (docs/adr/0028). */
  readonly sseRetryMs: number;
  /** The least `Retry-After` of a stream refused at the cap; jittered up to twice it. */
  readonly sseCapRetryAfterSeconds: number;
  /**
   * The listening socket's accept queue (listen(2) backlog; the kernel caps it at
   * net.core.somaxconn). Node's default, 511, overflows when thousands of streams reconnect at
   * once, and every dropped SYN waits out TCP's 1, 2, 4, 8 … s retransmission (docs/adr/0028).
   */
  readonly listenBacklog: number;
  /** Leases an operation gets before it ends `failed` (docs/contract.md §8). */
  readonly workerMaxAttempts: number;
  /** A lease's length when the worker asks for none (docs/contract.md §8). */
  readonly workerLeaseSeconds: number;
  /** Days an audit entry is kept before the sweep removes it (docs/adr/0021; the table refuses < 1). */
  readonly auditRetentionDays: number;
  /** How long an export's archive is kept (EXPORT_TTL_HOURS, decimals allowed), in seconds. */
  readonly exportTtlSeconds: number;
  /** How long a signed download link works: 10 minutes by contract (docs/contract.md §11), shorter only in tests. */
  readonly exportLinkTtlSeconds: number;
  /** Test hook: a pause after each document of an export build, to catch a build mid-way. Refused in production. */
  readonly exportBuildDelayMs: number;
  readonly bodyLimitBytes: number;
  readonly healthCheckTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
}

export interface RedisClusterTarget {
  /** Seed nodes; the client learns the rest of the cluster from them. */
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

export type ConfigResult = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly problems: readonly string[] };

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const NODE_ENVS: readonly NodeEnv[] = ['development', 'test', 'production'];

/** Collects problems while reading variables, so that every bad value is reported at once. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optional(name: string): string | undefined {
    return this.raw(name);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${name}: must be one of ${allowed.join(', ')} (got "${value}")`);
    return fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value)) {
      this.problems.push(`${name}: must be an integer (got "${value}")`);
      return fallback;
    }
    const n = Number(value);
    if (n < min || n > max) {
      this.problems.push(`${name}: must be between ${min} and ${max} (got ${n})`);
      return fallback;
    }
    return n;
  }

  decimal(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+(\.\d+)?$/.test(value)) {
      this.problems.push(`${name}: must be a number like 24 or 0.5 (got "${value}")`);
      return fallback;
    }
    const n = Number(value);
    if (n < min || n > max) {
      this.problems.push(`${name}: must be between ${min} and ${max} (got ${n})`);
      return fallback;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    this.problems.push(`${name}: must be true or false (got "${value}")`);
    return fallback;
  }

  url(name: string, protocols: readonly string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      this.problems.push(`${name}: must be a URL (${protocols.join(' or ')})`);
      return undefined;
    }
    if (!protocols.includes(parsed.protocol)) {
      this.problems.push(`${name}: must use ${protocols.join(' or ')} (got ${parsed.protocol})`);
      return undefined;
    }
    return value;
  }
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#@]+)\/?$/;
const CLUSTER_NODE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const CLUSTER_EXAMPLE = 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000';

/**
 * REDIS_URL: `redis://` or `rediss://` for one Redis; `redis+cluster://[user:password@]host:port,host:port`
 * (`rediss+cluster://` for TLS) for a Redis Cluster (docs/adr/0027). One variable keeps one switch
 * between the two, and a cluster URL has no database number (a cluster has only database 0).
 */
function readRedis(r: Reader): { url: string | undefined; cluster: RedisClusterTarget | undefined } {
  const value = r.raw('REDIS_URL');
  if (value !== undefined && /^rediss?:\/\/[^/]*,/.test(value)) {
    r.problems.push(`REDIS_URL: several nodes name a cluster: write ${CLUSTER_EXAMPLE}`);
    return { url: undefined, cluster: undefined };
  }
  if (value === undefined || !/^[a-z]+\+cluster:/i.test(value)) {
    return { url: r.url('REDIS_URL', ['redis:', 'rediss:', 'redis+cluster:', 'rediss+cluster:']), cluster: undefined };
  }
  const match = CLUSTER_URL.exec(value);
  if (!match) {
    r.problems.push(`REDIS_URL: a cluster URL is ${CLUSTER_EXAMPLE} (no database number, no query)`);
    return { url: undefined, cluster: undefined };
  }
  const [, scheme, userInfo, list] = match;
  const nodes: { host: string; port: number }[] = [];
  for (const entry of (list ?? '').split(',')) {
    const node = CLUSTER_NODE.exec(entry.trim());
    const port = Number(node?.[2]);
    if (!node?.[1] || port < 1 || port > 65535) {
      r.problems.push(`REDIS_URL: cluster node "${entry.trim()}" is not host:port (like ${CLUSTER_EXAMPLE})`);
      continue;
    }
    nodes.push({ host: node[1].replace(/^\[|\]$/g, ''), port });
  }
  if (nodes.length === 0) return { url: undefined, cluster: undefined };
  const [user, ...rest] = userInfo === undefined ? [] : userInfo.split(':');
  const decode = (s: string | undefined) => (s === undefined || s === '' ? undefined : decodeURIComponent(s));
  const password = rest.length > 0 ? decode(rest.join(':')) : undefined;
  return {
    url: value,
    cluster: Object.freeze({ nodes: Object.freeze(nodes), username: decode(user), password, tls: scheme === 'rediss' }),
  };
}

/** PEM text from NAME, or from the file named by NAME_FILE (never both). */
function readKey(r: Reader, name: string, readFile: (path: string) => string): string | undefined {
  const inline = r.optional(name);
  const file = r.optional(`${name}_FILE`);
  if (inline && file) {
    r.problems.push(`${name}: set either ${name} or ${name}_FILE, not both`);
    return undefined;
  }
  let pem = inline?.replace(/\\n/g, '\n');
  if (file) {
    try {
      pem = readFile(file);
    } catch (error) {
      r.problems.push(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  }
  if (pem !== undefined && !/-----BEGIN [A-Z ]*KEY-----/.test(pem)) {
    r.problems.push(`${name}: must be a PEM-encoded key`);
    return undefined;
  }
  return pem;
}

function parseOrigins(r: Reader): string[] {
  const value = r.string('CORS_ORIGINS', 'http://localhost:5200');
  const origins = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const origin of origins) {
    let ok = false;
    try {
      const u = new URL(origin);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === origin;
    } catch {
      ok = false;
    }
    if (!ok) r.problems.push(`CORS_ORIGINS: "${origin}" is not an exact origin like https://app.example.com`);
  }
  return origins;
}

function parseProxies(r: Reader): string[] {
  const value = r.optional('TRUSTED_PROXIES');
  if (value === undefined) return [];
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const entry of entries) {
    const [address, bits, ...rest] = entry.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 6 ? 128 : 32;
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !bitsOk || rest.length > 0) {
      r.problems.push(`TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR`);
    }
  }
  return entries;
}

export function loadConfig(env: Env, readFile: (path: string) => string = () => ''): ConfigResult {
  const r = new Reader(env);
  const nodeEnv = r.oneOf('NODE_ENV', NODE_ENVS, 'development');
  const databasePoolMin = r.int('DATABASE_POOL_MIN', 10, 0, 1000);
  const databasePoolMax = r.int('DATABASE_POOL_MAX', 20, 1, 1000);
  if (databasePoolMin > databasePoolMax) {
    r.problems.push(`DATABASE_POOL_MIN: must not exceed DATABASE_POOL_MAX (${databasePoolMin} > ${databasePoolMax})`);
  }

  const redis = readRedis(r);
  const config: Config = {
    nodeEnv,
    host: r.string('HOST', '0.0.0.0'),
    port: r.int('PORT', 5210, 0, 65535),
    databaseUrl: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolMin,
    databasePoolMax,
    databaseStatementTimeoutMs: r.int('DATABASE_STATEMENT_TIMEOUT_MS', 30_000, 100, 3_600_000),
    migrateOnStart: r.bool('MIGRATE_ON_START', false),
    dataDir: r.string('DATA_DIR', './.data'),
    redisUrl: redis.url,
    redisCluster: redis.cluster,
    redisMaxConnections: r.int('REDIS_MAX_CONNECTIONS', 50, 2, 10_000),
    qdrantUrl: r.url('QDRANT_URL', ['http:', 'https:']),
    qdrantApiKey: r.optional('QDRANT_API_KEY'),
    qdrantCollection: r.string('QDRANT_COLLECTION', 'jeex_embeddings'),
    qdrantVectorSize: r.int('QDRANT_VECTOR_SIZE', 1536, 1, 65_536),
    jwtPrivateKey: readKey(r, 'JWT_PRIVATE_KEY', readFile),
    jwtPublicKey: readKey(r, 'JWT_PUBLIC_KEY', readFile),
    jwtIssuer: r.string('JWT_ISSUER', 'jeex-api'),
    jwtAudience: r.string('JWT_AUDIENCE', 'jeex'),
    accessTokenExpireMinutes: r.int('ACCESS_TOKEN_EXPIRE_MINUTES', 30, 1, 60 * 24 * 30),
    corsOrigins: Object.freeze(parseOrigins(r)),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    logHealthProbes: r.bool('LOG_HEALTH_PROBES', false),
    rateLimitPerMinuteIp: r.int('RATE_LIMIT_PER_MINUTE_IP', 300, 0, 1_000_000),
    rateLimitPerMinuteUser: r.int('RATE_LIMIT_PER_MINUTE_USER', 600, 0, 1_000_000),
    rateLimitPerMinuteProject: r.int('RATE_LIMIT_PER_MINUTE_PROJECT', 1200, 0, 1_000_000),
    rateLimitWindowMs: r.int('RATE_LIMIT_WINDOW_MS', 60_000, 100, 3_600_000),
    trustedProxies: Object.freeze(parseProxies(r)),
    devLoginAnyHost: r.bool('DEV_LOGIN_ANY_HOST', false),
    sseKeepaliveSeconds: r.int('SSE_KEEPALIVE_SECONDS', 30, 1, 3600),
    sseMaxBufferBytes: r.int('SSE_MAX_BUFFER_BYTES', 10_485_760, 1024, 1_073_741_824),
    sseReplayEvents: r.int('SSE_REPLAY_EVENTS', 1000, 1, 1_000_000),
    sseMaxStreams: r.int('SSE_MAX_STREAMS', 20_000, 0, 1_000_000),
    sseRetryMs: r.int('SSE_RETRY_MS', 2000, 2, 600_000),
    sseCapRetryAfterSeconds: r.int('SSE_CAP_RETRY_AFTER_SECONDS', 5, 1, 3600),
    listenBacklog: r.int('LISTEN_BACKLOG', 4096, 1, 65_535),
    workerMaxAttempts: r.int('WORKER_MAX_ATTEMPTS', 3, 1, 100),
    workerLeaseSeconds: r.int('WORKER_LEASE_SECONDS', 30, 10, 300),
    auditRetentionDays: r.int('AUDIT_RETENTION_DAYS', 365, 1, 36_500),
    exportTtlSeconds: r.decimal('EXPORT_TTL_HOURS', 24, 0.0001, 24 * 365) * 3600,
    exportLinkTtlSeconds: r.int('EXPORT_LINK_TTL_SECONDS', 600, 1, 600),
    exportBuildDelayMs: r.int('EXPORT_BUILD_DELAY_MS', 0, 0, 60_000),
    bodyLimitBytes: r.int('BODY_LIMIT_BYTES', 1_048_576, 1024, 104_857_600),
    healthCheckTimeoutMs: r.int('HEALTH_CHECK_TIMEOUT_MS', 1000, 50, 60_000),
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 4500, 100, 60_000),
  };

  const keyGiven = (name: string) => r.optional(name) !== undefined || r.optional(`${name}_FILE`) !== undefined;
  if (keyGiven('JWT_PRIVATE_KEY') !== keyGiven('JWT_PUBLIC_KEY')) {
    r.problems.push('JWT_PRIVATE_KEY: JWT_PRIVATE_KEY and JWT_PUBLIC_KEY must be set together');
  }

  if (nodeEnv === 'production') {
    // Development conveniences are refused in production rather than silently used.
    if (!config.databaseUrl) r.problems.push('DATABASE_URL: required when NODE_ENV=production (no embedded database)');
    if (!config.redisUrl) r.problems.push('REDIS_URL: required when NODE_ENV=production (no in-process event bus)');
    if (!config.qdrantUrl) r.problems.push('QDRANT_URL: required when NODE_ENV=production');
    if (config.exportBuildDelayMs > 0) r.problems.push('EXPORT_BUILD_DELAY_MS: a test hook, refused when NODE_ENV=production');
    if (!config.jwtPrivateKey || !config.jwtPublicKey) {
      r.problems.push('JWT_PRIVATE_KEY: JWT_PRIVATE_KEY and JWT_PUBLIC_KEY are required when NODE_ENV=production (no generated keys)');
    }
  }

  if (r.problems.length > 0) return { ok: false, problems: Object.freeze([...r.problems]) };
  return { ok: true, config: Object.freeze(config) };
}

/** Builds a config for tests and tools: defaults plus the given variables; throws on problems. */
export function configFrom(env: Env): Config {
  const result = loadConfig(env);
  if (!result.ok) throw new Error(`invalid configuration: ${result.problems.join('; ')}`);
  return result.config;
}

/**
 * The name of every variable `loadConfig` reads. It reads each one whatever the environment
 * holds, so an empty environment that records what is asked lists them all; deployment files
 * are checked against this list (no drift between compose.yaml and the schema).
 */
export function configVariableNames(): readonly string[] {
  const names = new Set<string>();
  const recorder = new Proxy<Env>(
    {},
    {
      get: (_target, key) => {
        if (typeof key === 'string') names.add(key);
        return undefined;
      },
    },
  );
  loadConfig(recorder);
  return [...names].sort();
}
