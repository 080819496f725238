import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { classifyResponse, transportReason } from '../../test/helpers/faults/contract-check.js';
import type { FaultTally } from '../../test/helpers/faults/fault-tally.js';
import type { InstanceSet } from '../../test/helpers/multi-instance.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface WrittenReply {
  readonly operationId: string;
  readonly messageId: string;
  readonly text: string;
}

/** One fake agent process (scripts/example-worker.ts) against one instance; its "reply written" lines, its exits. */
class AgentProcess {
  readonly replies: WrittenReply[] = [];
  exits = 0;
  private child: ChildProcess | undefined;
  private stopping = false;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {
    this.spawn();
  }

  private spawn(): void {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/example-worker.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        JEEX_API_URL: this.baseUrl,
        JEEX_WORKER_TOKEN: this.token,
        WORKER_KINDS: 'agent.reply',
        FAKE_AGENT_CHUNK: '8',
        FAKE_AGENT_DELTA_MS: '20',
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.child = child;
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as { msg?: string; operation_id?: string; message_id?: string; text?: string };
          if (entry.msg === 'reply written' && entry.operation_id && entry.message_id && typeof entry.text === 'string')
            this.replies.push({ operationId: entry.operation_id, messageId: entry.message_id, text: entry.text });
        } catch {
          // not a log line
        }
      }
    });
    child.once('exit', () => {
      if (this.stopping) return;
      this.exits++;
      setTimeout(() => this.spawn(), 500);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }
}

export interface ConversationAudit {
  readonly userMessages: number;
  readonly replies: number;
  /** A written reply whose stored content is not the worker's text. */
  readonly differing: string[];
  /**
   * The worker's text stored whole, but the message not `complete`: the example worker does not
   * check its final PATCH (scripts/example-worker.ts), so a fault at that moment leaves it streaming.
   */
  readonly notCompleted: string[];
  /** User messages whose operation got no written reply by the end (a lease lost mid-reply ends it failed). */
  readonly unanswered: number;
  readonly workerExits: number;
}

/**
 * Users chatting while workers lease `agent.reply` and stream replies in deltas (docs/contract.md
 * §10). Each user posts a message to an instance in turn every `thinkMs`; agents long-poll
 * different instances. At the end every reply a worker says it wrote is read back and compared
 * with the worker's own text.
 */
export class ConversationLoad {
  private readonly agents: AgentProcess[];
  private readonly operations = new Map<string, { token: string; projectId: string }>();
  private stopping = false;
  private loops: Array<Promise<void>> = [];
  private counter = 0;

  constructor(
    private readonly instances: InstanceSet,
    private readonly tally: FaultTally,
    private readonly users: readonly { token: string; projectId: string }[],
    workerToken: string,
    agents: number,
    private readonly thinkMs: number,
  ) {
    this.agents = Array.from({ length: agents }, (_, i) => new AgentProcess(instances.at(i + 1).base, workerToken));
  }

  start(): void {
    this.loops = this.users.map((u, i) => this.chat(u, i));
  }

  private async chat(user: { token: string; projectId: string }, index: number): Promise<void> {
    for (let n = index; !this.stopping; n++) {
      const correlationId = `chat-${++this.counter}`;
      const t0 = performance.now();
      try {
        const res = await this.instances.request(n, `/api/v1/projects/${user.projectId}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json', 'x-correlation-id': correlationId },
          body: JSON.stringify({ content: `soak message ${correlationId}` }),
          signal: AbortSignal.timeout(15_000),
        });
        const outcome = await classifyResponse(
          res,
          { success: 201, shape: (b) => typeof (b.operation as { id?: unknown } | null)?.id === 'string' },
          correlationId,
        );
        this.tally.record('post message', correlationId, outcome, performance.now() - t0);
        if (outcome.kind === 'success') this.operations.set((outcome.body as { operation: { id: string } }).operation.id, user);
      } catch (error) {
        this.tally.record('post message', correlationId, { kind: 'outside', reason: transportReason(error) }, performance.now() - t0);
      }
      await sleep(this.thinkMs);
    }
  }

  /** Stops chatting, lets the agents finish for `settleMs`, stops them, and compares what was stored with what they wrote. */
  async drain(settleMs: number): Promise<ConversationAudit> {
    this.stopping = true;
    await Promise.all(this.loops);
    await sleep(settleMs);
    await Promise.all(this.agents.map((a) => a.stop()));
    const replies = this.agents.flatMap((a) => a.replies);
    const differing: string[] = [];
    const notCompleted: string[] = [];
    for (const [i, reply] of replies.entries()) {
      const user = this.operations.get(reply.operationId);
      if (!user) continue;
      const res = await this.instances.request(i, `/api/v1/projects/${user.projectId}/messages/${reply.messageId}`, {
        headers: { authorization: `Bearer ${user.token}` },
      });
      const stored = (await res.json()) as { content?: string; status?: string };
      const line = `${reply.messageId}: ${res.status} ${stored.status} (${stored.content?.length ?? 0} of ${reply.text.length} chars)`;
      if (stored.content !== reply.text) differing.push(line);
      else if (stored.status !== 'complete') notCompleted.push(line);
    }
    const answered = new Set(replies.map((r) => r.operationId));
    return {
      userMessages: this.operations.size,
      replies: replies.length,
      differing,
      notCompleted,
      unanswered: [...this.operations.keys()].filter((op) => !answered.has(op)).length,
      workerExits: this.agents.reduce((n, a) => n + a.exits, 0),
    };
  }
}
