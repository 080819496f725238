import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeMachine } from '../../bench/lib/machine.js';
import { recordSection, sectionHead } from '../../bench/lib/report.js';
import { auditDelivery } from '../../test/helpers/faults/delivery-audit.js';
import { formatFaultReport } from '../../test/helpers/faults/fault-report.js';
import { FaultTally } from '../../test/helpers/faults/fault-tally.js';
import { SteadyLoad } from '../../test/helpers/faults/steady-load.js';
import { ConversationLoad } from './conversation-load.js';
import { faultSchedule } from './fault-injector.js';
import { RssSampler } from './rss-sampler.js';
import { issueUserToken, startSoakWorld } from './soak-world.js';

/*
 * The chaos soak (issue 20 item 3, docs/adr/0028): `npm run soak [-- --minutes N]` (SOAK_MINUTES;
 * default 10; SOAK_INSTANCES, default 3; SOAK_REDIS=cluster (default: a 3-master Redis Cluster) or single). Steady mixed load against several API instances while a
 * fault injector, between stretches of quiet load, restarts PostgreSQL, kills Redis, hangs the
 * collector, adds latency and cuts connections (test/helpers/fault-proxy.ts). Not part of
 * `npm test`. Writes bench/soak-report.md and its summary in bench/RESULTS.md (`soak`); exits 1
 * when a count that must be zero is not.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const argMinutes = process.argv.indexOf('--minutes');
const minutes = Number(argMinutes >= 0 ? process.argv[argMinutes + 1] : (process.env.SOAK_MINUTES ?? 10));
const instanceCount = Number(process.env.SOAK_INSTANCES ?? 3);
const redisKind = process.env.SOAK_REDIS === 'single' ? 'single' : 'cluster';
/** Quiet load between faults: 20–40 s. */
const quietMs = () => 20_000 + Math.random() * 20_000;
/** RSS may grow from the first minute's median to the last's by at most this (MiB): the stated bound. */
const RSS_BOUND_MIB = 64;
const WARM_UP_MS = 30_000;
const USERS = 3;
/** Two fake agents answer about one message a second on this machine: the chat stays below that. */
const CHAT_THINK_MS = 4_000;

const log = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);

async function main(): Promise<number> {
  if (!(minutes > 0)) throw new Error('--minutes: a positive number');
  const machineAtStart = describeMachine();
  const loadAtStart = loadavg();
  log('soak: starting', { minutes, instances: instanceCount });
  const world = await startSoakWorld(instanceCount, redisKind);
  try {
    const set = world.instances;
    const tokens = await Promise.all(Array.from({ length: USERS }, (_, i) => issueUserToken(world.env, `soak-${i}@example.com`)));
    const users: Array<{ token: string; projectId: string }> = [];
    for (const [i, token] of tokens.entries()) {
      const res = await set.request(i, '/api/v1/projects', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `Soak chat ${i}`, language: 'en' }),
      });
      if (res.status !== 201) throw new Error(`chat project: ${res.status} ${await res.text()}`);
      users.push({ token, projectId: ((await res.json()) as { id: string }).id });
    }
    const bases = set.instances.map((i) => i.base);
    const tally = new FaultTally('warm-up');
    const loads = set.instances.map(
      (instance, i) =>
        new SteadyLoad(instance.base, tokens, tally, {
          shortWriters: 2,
          longWriters: 1,
          eventsPerOperation: 12,
          thinkMs: 60,
          followerBases: bases,
          randomDropMs: 8_000,
          label: `i${i}-`,
        }),
    );
    const chat = new ConversationLoad(set, tally, users, await set.workerToken('soak-agent'), 2, CHAT_THINK_MS);
    for (const load of loads) load.start();
    chat.start();
    await sleep(WARM_UP_MS);
    const rss = new RssSampler(set.instances);

    const actions: string[] = [];
    const endAt = performance.now() + minutes * 60_000 - WARM_UP_MS;
    const schedule = faultSchedule(world);
    let round = 0;
    tally.begin('steady');
    while (performance.now() < endAt) {
      await sleep(Math.min(quietMs(), Math.max(0, endAt - performance.now())));
      if (performance.now() >= endAt - 15_000) break;
      const fault = schedule.next().value;
      if (!fault) break;
      round++;
      tally.begin(`${round}. ${fault.name}`);
      log('soak: fault', { round, fault: fault.name });
      actions.push(`${round}. ${fault.name}: ${await fault.inject(world)}`);
      tally.begin(`${round}. after`);
    }
    tally.begin('drain');
    const rssSummary = rss.stop();
    const drained = await Promise.all(loads.map((l) => l.drain(15_000)));
    const conversation = await chat.drain(5_000);
    const audit = auditDelivery(loads.flatMap((l) => l.operations));
    const exits = set.instances.flatMap((i) => i.exits);
    const faultReport = formatFaultReport({
      tally,
      audit,
      exits,
      pids: set.instances.flatMap((i) => i.pids),
      unfinishedFollowers: drained.reduce((n, d) => n + d.unfinishedFollowers, 0),
      actions,
      serverLog: set.allOutput(),
      endedMs: performance.now(),
    });
    const ownDrops = loads.flatMap((l) => l.operations).reduce((n, o) => n + o.follower.ownDrops, 0);
    const rssLines = rssSummary.map(
      (r) =>
        `instance :${r.port}: RSS ${r.startMiB} → ${r.endMiB} MiB (first → last minute, medians; max ${r.maxMiB}; ${r.samples} samples): ` +
        `${r.endMiB - r.startMiB <= RSS_BOUND_MIB ? 'within' : 'OVER'} the +${RSS_BOUND_MIB} MiB bound`,
    );
    const checks = [
      ['responses outside the contract', tally.outside.length],
      ['acknowledged events not delivered to a resuming client', audit.undelivered.length + audit.duplicates + audit.outOfOrder],
      ["messages whose content differs from the worker's text", conversation.differing.length],
      ['API process restarts', exits.length],
      ['instances over the RSS bound', rssSummary.filter((r) => r.endMiB - r.startMiB > RSS_BOUND_MIB).length],
    ] as const;
    const summary = [
      ...sectionHead({
        name: 'soak',
        title: `chaos soak, ${minutes} min, ${instanceCount} instances (issue 20 item 3)`,
        machine: machineAtStart,
        command: `npm run soak -- --minutes ${minutes}`,
        method:
          `${instanceCount} API processes (NODE_ENV=production, telemetry on, supervised: an exit is counted and restarted) over one ` +
          `embedded PostgreSQL 18 behind a TCP fault proxy, ${redisKind === 'cluster' ? 'a 3-master Redis Cluster without replicas (REDIS_URL=redis+cluster://…)' : 'one redis-server behind a TCP fault proxy'}, a Qdrant stand-in and an OTLP collector. ` +
          `Load: per instance 2 short and 1 long writer sessions (project, read, document version, operation, events; one follower per operation ` +
          `whose reconnects rotate over the instances and which drops its own stream after a random time averaging 8 s, then resumes with Last-Event-ID); ` +
          `${USERS} users posting a chat message every ${CHAT_THINK_MS / 1000} s to the instances in turn, answered by 2 fake-agent worker processes ` +
          `(scripts/example-worker.ts) leasing on different instances and streaming replies in deltas. After a ${WARM_UP_MS / 1000} s warm-up, ` +
          'faults in shuffled rounds (each kind once per round) separated by 20–40 s of quiet load; each fault phase ends when every instance is ready again.',
      }),
      `- Load average: ${loadAtStart.map((n) => n.toFixed(2)).join(' ')} at start, ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')} at the end (other engineers' test runs share the machine).`,
      '',
      ...checks.map(([what, n]) => `- **${what}: ${n}** (target 0)`),
      `- Chat: ${conversation.userMessages} user messages, ${conversation.replies} replies written by the agents and compared; ` +
        `${conversation.unanswered} messages without a written reply at the end (still queued, or an agent that lost its lease to a fault ended the reply failed); ` +
        `replies with the worker's full text but not marked complete: ${conversation.notCompleted.length}${conversation.notCompleted.length > 0 ? ` (${conversation.notCompleted.slice(0, 3).join('; ')})` : ''}; agent process exits ${conversation.workerExits}.`,
      `- Streams: ${audit.acked} events acknowledged in ${audit.operations} operations; the followers dropped their own streams ${ownDrops} times and resumed.`,
      ...rssLines.map((l) => `- ${l}`),
      '',
      'Full per-phase table (requests, 503s by dependency, p50/p99 ms): `bench/soak-report.md`.',
    ].join('\n');
    const report = [
      `# Chaos soak report (${minutes} min)`,
      '',
      summary.replace(/^## soak — /, '## '),
      '',
      '```',
      faultReport,
      ...(conversation.differing.length > 0 ? ['messages that differ:', ...conversation.differing.slice(0, 20)] : []),
      '```',
      '',
    ].join('\n');
    process.stdout.write(`${report}\n`);
    if (process.env.SOAK_RECORD !== '0') {
      await writeFile(path.join(ROOT, 'bench/soak-report.md'), report);
      await recordSection(path.join(ROOT, 'bench/RESULTS.md'), 'soak', summary);
    }
    return checks.some(([, n]) => n > 0) ? 1 : 0;
  } finally {
    await world.dispose();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log('soak: failed', { error: error instanceof Error ? error.stack : String(error) });
    process.exit(2);
  },
);
