/**
 * FAKE AGENT — no model behind it. An example worker for trying the whole agent flow on a laptop
 * (docs/contract.md §8, README "Write a worker"): it takes `agent.reply` and `draft.document`
 * operations, publishes progress, writes a Markdown document version with the operation token
 * (the creator is its author, this worker the actor), and honours cancel and SIGTERM.
 *
 *   JEEX_WORKER_TOKEN=$(npm run --silent token -- --worker fake-agent) npm run worker:example
 *
 * Environment: JEEX_API_URL (default http://127.0.0.1:5210), JEEX_WORKER_TOKEN (required),
 * WORKER_KINDS (default agent.reply,draft.document), FAKE_AGENT_STEP_MS (pause between progress
 * events, default 300), WORKER_LEASE_SECONDS (default: the server's). One JSON line per step on stdout.
 */
import { runWorker, type WorkerJob } from '../clients/typescript/worker.js';

const baseUrl = process.env.JEEX_API_URL ?? 'http://127.0.0.1:5210';
const token = process.env.JEEX_WORKER_TOKEN;
if (!token) {
  console.error('JEEX_WORKER_TOKEN: required (npm run token -- --worker <name>)');
  process.exit(2);
}
const kinds = (process.env.WORKER_KINDS ?? 'agent.reply,draft.document').split(',').filter(Boolean);
const stepMs = Number(process.env.FAKE_AGENT_STEP_MS ?? 300);
const leaseSeconds = process.env.WORKER_LEASE_SECONDS ? Number(process.env.WORKER_LEASE_SECONDS) : undefined;

const log = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), pid: process.pid, msg, ...fields })}\n`);

/** Waits one step; false when the job was cancelled or its lease lost meanwhile. */
function step(job: WorkerJob): Promise<boolean> {
  return new Promise((resolve) => {
    if (job.signal.aborted) return resolve(false);
    const timer = setTimeout(() => resolve(true), stepMs);
    job.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve(false);
      },
      { once: true },
    );
  });
}

async function draftDocument(job: WorkerJob) {
  const documentType = (job.operation.input.document_type as 'about' | 'specs' | 'architecture' | 'plan' | undefined) ?? 'about';
  for (const percent of [25, 50, 75]) {
    if (!(await step(job))) return undefined;
    await job.publish('progress', { percent });
  }
  const idea = typeof job.operation.input.idea === 'string' ? job.operation.input.idea : 'An idea';
  const content = `# ${documentType}\n\n_Drafted by a fake agent (attempt ${job.lease.attempt}, language ${job.project.language})._\n\n${idea}\n`;
  const { data, error } = await job.api.POST('/api/v1/projects/{project_id}/documents/{document_type}/versions', {
    params: { path: { project_id: job.project.id, document_type: documentType } },
    body: { content, metadata: { agent: 'fake' } },
  });
  if (error) throw new Error(`could not write the document: ${error.error}`);
  return { type: 'document.drafted', data: { document_type: documentType, version: data.version } };
}

async function agentReply(job: WorkerJob) {
  const words = ['This', 'is', 'a', 'fake', 'reply.'];
  for (const [index, word] of words.entries()) {
    if (!(await step(job))) return undefined;
    await job.publish('reply.delta', { index, text: `${index === 0 ? '' : ' '}${word}` });
  }
  return { type: 'reply.completed', data: { text: words.join(' ') } };
}

log('fake agent started', { kinds, base_url: baseUrl });
await runWorker({
  baseUrl,
  token,
  kinds,
  ...(leaseSeconds !== undefined ? { leaseSeconds } : {}),
  waitSeconds: 20,
  log,
  handler: async (job) => {
    log('working', { operation_id: job.operation.id, kind: job.operation.kind, attempt: job.lease.attempt });
    return job.operation.kind === 'agent.reply' ? agentReply(job) : draftDocument(job);
  },
});
log('fake agent stopped');
