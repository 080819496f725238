import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadSigningKeys } from '../../src/auth/keys.js';
import { TokenService } from '../../src/auth/tokens.js';
import { configFrom } from '../../src/config.js';
import { SupervisedServer } from './faults/supervised-server.js';
import { freePort } from './server-process.js';

/*
 * Several API processes over one PostgreSQL and one Redis (or Redis Cluster), as replicas behind
 * a load balancer (issue 20 item 2, docs/adr/0028). Each is the real entry point as production
 * starts it (telemetry preload, its own process) under a supervisor that counts exits
 * (faults/supervised-server.ts). They share one signing key pair, as replicas must.
 */

export interface SigningKeyEnv {
  readonly JWT_PRIVATE_KEY: string;
  readonly JWT_PUBLIC_KEY: string;
}

/** A fresh RS256 pair for the replicas of one run. */
export function sharedSigningKeys(): SigningKeyEnv {
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { JWT_PRIVATE_KEY: keys.privateKey, JWT_PUBLIC_KEY: keys.publicKey };
}

/** The resident set of a process in KiB (`VmRSS` of /proc/<pid>/status), or null when it is gone. */
export function rssKiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export class InstanceSet {
  private constructor(
    readonly instances: readonly SupervisedServer[],
    /** The environment every instance was started with (keys included). */
    readonly env: Readonly<Record<string, string>>,
  ) {}

  /** Starts `count` instances with the same environment (plus their own PORT) and waits until each is live. */
  static async start(count: number, env: Record<string, string>, liveTimeoutMs = 90_000): Promise<InstanceSet> {
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    const set = new InstanceSet(
      ports.map((port) => SupervisedServer.start(env, port)),
      env,
    );
    try {
      await Promise.all(set.instances.map((i) => i.waitLive(liveTimeoutMs)));
    } catch (error) {
      await set.stop();
      throw error;
    }
    return set;
  }

  get size(): number {
    return this.instances.length;
  }

  /** Instance `i` modulo the set: callers spread their clients by index. */
  at(i: number): SupervisedServer {
    return this.instances[((i % this.size) + this.size) % this.size] as SupervisedServer;
  }

  /** `fetch` against instance `i` (modulo the set), path relative to its base URL. */
  request(i: number, path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.at(i).base}${path}`, init);
  }

  /** Exits the supervisors counted across every instance (crashes; a test's own stop is not one). */
  exits(): number {
    return this.instances.reduce((n, i) => n + i.exits.length, 0);
  }

  /** Every line every instance's processes wrote. */
  allOutput(): string {
    return this.instances.map((i) => i.allOutput()).join('\n');
  }

  /** Worker credentials signed with the replicas' own key, as `npm run token -- --worker` prints them. */
  async workerToken(name: string): Promise<string> {
    const config = configFrom(this.env);
    const tokens = new TokenService(await loadSigningKeys(config), {
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      expiresInMinutes: config.accessTokenExpireMinutes,
    });
    return (await tokens.issueWorker(name, 1)).access_token;
  }

  async stop(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.stop()));
  }
}
