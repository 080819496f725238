/**
 * FAKE AGENT — no model behind it. An example worker for trying the whole agent flow on a laptop
 * (docs/contract.md §8, §10, README "Write a worker"): it takes `agent.reply` and `draft.document`
 * operations; it answers a user message with a reply streamed in deltas (an echo and a summary of
 * the project's documents), writes a Markdown document version with the operation token (the
 * creator is its author, this worker the actor), and honours cancel and SIGTERM.
 *
 *   JEEX_WORKER_TOKEN=$(npm run --silent token -- --worker fake-agent) npm run worker:example
 *
 * Environment: JEEX_API_URL (default http://127.0.0.1:5210), JEEX_WORKER_TOKEN (required),
 * WORKER_KINDS (default agent.reply,draft.document), FAKE_AGENT_STEP_MS (pause between progress
 * events, default 300), FAKE_AGENT_CHUNK (characters per reply delta, default 4), FAKE_AGENT_DELTA_MS
 * (pause between deltas, default 30), WORKER_LEASE_SECONDS (default: the server's). One JSON line per step on stdout.
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
const chunkChars = Math.max(1, Number(process.env.FAKE_AGENT_CHUNK ?? 4));
const deltaMs = Number(process.env.FAKE_AGENT_DELTA_MS ?? 30);
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

/**
 * The reply a fake agent gives: it echoes the user's message and summarises the project's
 * documents (the first line of the latest version of each). Deterministic, so tests can compare.
 */
function composeReply(said: string, documents: readonly { document_type: string; version: number; content?: string }[]): string {
  const summary =
    documents.length === 0
      ? 'The project has no documents yet.'
      : documents.map((d) => `- ${d.document_type} v${d.version}: ${(d.content ?? '').split('\n')[0]?.slice(0, 80) ?? ''}`).join('\n');
  return `You said: "${said}"\n\nWhat the project holds:\n${summary}\n\n(a fake agent; no model behind it)`;
}

/** Streams the reply in deltas of FAKE_AGENT_CHUNK characters, one every FAKE_AGENT_DELTA_MS (docs/contract.md §10). */
async function agentReply(job: WorkerJob) {
  const messageId = typeof job.operation.input.message_id === 'string' ? job.operation.input.message_id : undefined;
  if (!messageId) return { type: 'reply.failed', data: { error: 'agent.reply needs input.message_id' }, status: 'failed' as const };
  const project_id = job.project.id;
  const asked = await job.api.GET('/api/v1/projects/{project_id}/messages/{message_id}', {
    params: { path: { project_id, message_id: messageId } },
  });
  if (asked.error) throw new Error(`could not read the message: ${asked.error.error}`);
  const docs = await job.api.GET('/api/v1/projects/{project_id}/documents', { params: { path: { project_id } } });
  const text = composeReply(asked.data.content, docs.data?.items ?? []);
  const opened = await job.api.POST('/api/v1/projects/{project_id}/messages', {
    params: { path: { project_id } },
    body: { role: 'assistant', reply_to: messageId },
  });
  if (opened.error) throw new Error(`could not open the reply: ${opened.error.error}`);
  const reply = opened.data.message;
  const chars = [...text];
  let seq = 0;
  for (let at = 0; at < chars.length; at += chunkChars) {
    if (job.signal.aborted) break;
    seq += 1;
    const piece = chars.slice(at, at + chunkChars).join('');
    // A delta is idempotent per seq: retry it until the server has it (a network error, 429, 503).
    await untilAccepted(`delta ${seq}`, () =>
      job.api.POST('/api/v1/projects/{project_id}/messages/{message_id}/deltas', {
        params: { path: { project_id, message_id: reply.id } },
        body: { seq, text: piece },
      }),
    );
    if (deltaMs > 0) await new Promise((r) => setTimeout(r, deltaMs));
  }
  const status = job.signal.aborted ? 'failed' : 'complete';
  const path = { params: { path: { project_id, message_id: reply.id } } };
  // Retried like a delta; a 409 on a retry means an earlier attempt ended the message (its answer
  // was lost), which is a success only if the message now has the status this worker asked for.
  await untilAccepted(
    `status ${status}`,
    () => job.api.PATCH('/api/v1/projects/{project_id}/messages/{message_id}', { ...path, body: { status } }),
    async () => {
      const now = await job.api.GET('/api/v1/projects/{project_id}/messages/{message_id}', path).catch(() => undefined);
      return now?.data?.status === status;
    },
  );
  if (status === 'failed') return undefined;
  log('reply written', { operation_id: job.operation.id, message_id: reply.id, deltas: seq, text });
  return { type: 'reply.completed', data: { message_id: reply.id, deltas: seq } };
}

/**
 * Sends until the server has it: retried after a network error, 429 or 5xx (5 attempts); any
 * other refusal throws, unless `settledAnyway` (asked after a 409 on a retry) says an earlier
 * attempt whose answer was lost already did it. Never "written" on an unread answer.
 */
async function untilAccepted(
  what: string,
  send: () => Promise<{ error?: unknown; response: Response }>,
  settledAnyway?: () => Promise<boolean>,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const sent = await send().catch(() => undefined);
    if (sent && !sent.error) return;
    const status = sent?.response.status;
    if (status === 409 && attempt > 1 && settledAnyway && (await settledAnyway())) return;
    if ((status !== undefined && status < 500 && status !== 429) || attempt >= 5) {
      throw new Error(`${what} refused (${status ?? 'network'})`);
    }
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
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
