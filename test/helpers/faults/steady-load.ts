import { setTimeout as sleep } from 'node:timers/promises';
import { classifyResponse, type Outcome, type RouteExpectation, transportReason } from './contract-check.js';
import { EventFollower } from './event-follower.js';
import type { FaultTally } from './fault-tally.js';

export interface AckedEvent {
  readonly id: number;
  readonly marker: string;
  readonly phase: string;
}

export interface RefusedEvent {
  readonly marker: string;
  readonly phase: string;
  /** A contract error says the write did not happen; a transport failure leaves it in doubt. */
  readonly definite: boolean;
}

export interface OperationRecord {
  readonly id: string;
  readonly projectId: string;
  readonly acked: AckedEvent[];
  readonly refused: RefusedEvent[];
  readonly follower: EventFollower;
  ended: boolean;
}

export interface LoadOptions {
  /** Writers doing short sessions (project → read → document → operation → events → end). */
  readonly shortWriters: number;
  /** Writers keeping one operation open for the whole run, so its follower lives through every fault. */
  readonly longWriters: number;
  readonly eventsPerOperation: number;
  /** Pause between one writer's requests: steady load, not saturation. */
  readonly thinkMs: number;
  /** Instances a follower's reconnects rotate over (default: the writer's own). */
  readonly followerBases?: readonly string[];
  /** A follower drops its own stream after a random time averaging this, then resumes (0: never). */
  readonly randomDropMs?: number;
  /** Names this load's correlation ids apart from another's in the same run. */
  readonly label?: string;
}

const REQUEST_TIMEOUT_MS = 15_000;
const FAILURE_BACKOFF_MS = 200;
const hasId = (b: Record<string, unknown>) => typeof b.id === 'string';

/**
 * Clients looping over a realistic mix while the faults happen. Every response is checked
 * against the contract (contract-check.ts) and charged to the phase it came back in; every event
 * acknowledged with 202 is remembered for the delivery audit.
 */
export class SteadyLoad {
  readonly operations: OperationRecord[] = [];
  private stopping = false;
  private writers: Array<Promise<void>> = [];
  private counter = 0;

  constructor(
    private readonly base: string,
    private readonly tokens: readonly string[],
    private readonly tally: FaultTally,
    private readonly options: LoadOptions,
  ) {}

  readonly nextCorrelationId = (): string => `fault-${this.options.label ?? ''}${++this.counter}`;

  start(): void {
    const { shortWriters, longWriters } = this.options;
    for (let w = 0; w < shortWriters + longWriters; w++) {
      const token = this.tokens[w % this.tokens.length] ?? '';
      this.writers.push(this.writer(w, token, w < longWriters));
    }
  }

  /** Stops the writers (each ends its open operation) and waits for the followers, at most `followMs`. */
  async drain(followMs: number): Promise<{ unfinishedFollowers: number }> {
    this.stopping = true;
    await Promise.all(this.writers);
    const deadline = sleep(followMs).then(() => 'deadline');
    await Promise.race([Promise.all(this.operations.map((o) => o.follower.done)), deadline]);
    const unfinished = this.operations.filter((o) => !o.follower.hasFinished);
    for (const o of this.operations) o.follower.stop();
    await Promise.all(this.operations.map((o) => o.follower.done));
    return { unfinishedFollowers: unfinished.length };
  }

  private async writer(w: number, token: string, long: boolean): Promise<void> {
    const auth = `Bearer ${token}`;
    let session = 0;
    while (!this.stopping) {
      session++;
      const project = await this.call(
        auth,
        'create project',
        'POST',
        '/api/v1/projects',
        { name: `Faults ${w}.${session}`, language: 'en' },
        { success: 201, shape: hasId },
      );
      if (project.kind !== 'success') {
        await this.think();
        continue;
      }
      const projectId = String((project.body as { id: string }).id);
      const projectPath = `/api/v1/projects/${projectId}`;
      await this.call(auth, 'read project', 'GET', projectPath, undefined, { success: 200, shape: (b) => b.id === projectId });
      await this.call(
        auth,
        'write document version',
        'POST',
        `${projectPath}/documents/about/versions`,
        { content: `# Idea ${w}.${session}\n` },
        {
          success: 201,
          shape: (b) => typeof b.version === 'number',
        },
      );
      const created = await this.call(
        auth,
        'create operation',
        'POST',
        `${projectPath}/operations`,
        { kind: 'fault_suite' },
        {
          success: 201,
          shape: (b) => hasId(b) && b.status === 'pending',
        },
      );
      if (created.kind !== 'success') {
        await this.think();
        continue;
      }
      const opId = String((created.body as { id: string }).id);
      const opPath = `${projectPath}/operations/${opId}`;
      const record: OperationRecord = {
        id: opId,
        projectId,
        acked: [],
        refused: [],
        follower: new EventFollower(
          this.followerUrls(`${opPath}/events`, w),
          auth,
          this.tally,
          this.nextCorrelationId,
          250,
          this.options.randomDropMs ?? 0,
        ),
        ended: false,
      };
      this.operations.push(record);
      for (let k = 0; !this.stopping && (long || k < this.options.eventsPerOperation); k++) {
        await this.publish(auth, opPath, record, false);
        await this.think();
        if (k % 4 === 3) await this.call(auth, 'read operation', 'GET', opPath, undefined, { success: 200, shape: (b) => b.id === opId });
      }
      await this.end(auth, opPath, record);
    }
  }

  /** The last event (terminal status), retried until acknowledged; a 409 means an in-doubt attempt had ended it. */
  private async end(auth: string, opPath: string, record: OperationRecord): Promise<void> {
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline) {
      const outcome = await this.publish(auth, opPath, record, true);
      if (outcome.kind === 'success' || (outcome.kind === 'contract_error' && outcome.status === 409)) {
        record.ended = true;
        return;
      }
      await this.think();
    }
  }

  private async publish(auth: string, opPath: string, record: OperationRecord, terminal: boolean): Promise<Outcome> {
    const marker = `m${this.options.label ?? ''}${++this.counter}`;
    const outcome = await this.call(
      auth,
      'publish event',
      'POST',
      `${opPath}/events`,
      { type: terminal ? 'done' : 'progress', data: { marker }, ...(terminal ? { status: 'completed' } : {}) },
      { success: 202, shape: (b) => typeof b.id === 'number' && (b.data as { marker?: unknown } | null)?.marker === marker },
    );
    const phase = this.tally.phase.name;
    if (outcome.kind === 'success') record.acked.push({ id: (outcome.body as { id: number }).id, marker, phase });
    else record.refused.push({ marker, phase, definite: outcome.kind === 'contract_error' });
    return outcome;
  }

  private async call(
    auth: string,
    route: string,
    method: string,
    path: string,
    body: unknown,
    expected: RouteExpectation,
  ): Promise<Outcome> {
    const correlationId = this.nextCorrelationId();
    const t0 = performance.now();
    let outcome: Outcome;
    try {
      const res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: auth,
          'x-correlation-id': correlationId,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      outcome = await classifyResponse(res, expected, correlationId);
    } catch (error) {
      outcome = { kind: 'outside', reason: transportReason(error) };
    }
    this.tally.record(route, correlationId, outcome, performance.now() - t0);
    // A client backs off after a failure instead of hammering a service that is recovering.
    if (outcome.kind !== 'success') await sleep(FAILURE_BACKOFF_MS);
    return outcome;
  }

  /** The stream's URL on each instance followers use, starting with writer `w`'s turn. */
  private followerUrls(path: string, w: number): string[] {
    const bases = this.options.followerBases ?? [this.base];
    return bases.map((_, i) => `${bases[(i + w) % bases.length]}${path}`);
  }

  private think(): Promise<unknown> {
    return sleep(this.options.thinkMs);
  }
}
