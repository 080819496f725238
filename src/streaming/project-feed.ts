import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import { ServiceUnavailableError } from '../lib/errors.js';
import type { ProjectEventsRepository } from '../repositories/project-events.repository.js';
import type { LiveSource } from './event-stream.js';
import type { ProjectEvent } from './project-events.js';

/** The channel `append_project_event` notifies, with the project id as payload (migration 0006). */
const CHANNEL = 'project_events';
const FETCH_LIMIT = 200;
const RECONNECT_MS = { min: 100, max: 5_000 };

interface Followed {
  readonly listeners: Set<(event: ProjectEvent) => void>;
  /** The newest id handed to the listeners (or read as the starting point). */
  lastId: number;
  ready: Promise<void>;
  fetching: boolean;
  again: boolean;
}

/**
 * The live side of project streams (docs/adr/0022). PostgreSQL sends `NOTIFY project_events`
 * only when the transaction that wrote an event commits, so what this hears is committed by
 * construction, on every API instance, whatever wrote it. One connection per process LISTENs;
 * for a project that has open streams here it reads the new rows once and hands each to all of
 * them. A missed notification (connection lost) is made good by reading every followed project
 * again after reconnecting; a stream that still sees an id skip ahead reads its history
 * (src/streaming/event-stream.ts), so nothing is lost either way.
 */
export class ProjectFeed {
  private client: pg.Client | undefined;
  private listening: Promise<void> | undefined;
  private readonly followed = new Map<string, Followed>();
  private closed = false;
  private backoff = RECONNECT_MS.min;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connection: pg.ClientConfig,
    private readonly events: ProjectEventsRepository,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Connects and LISTENs; failures are retried in the background (streams answer 503 meanwhile). */
  start(): Promise<void> {
    this.listening = this.connect();
    return this.listening.catch(() => undefined);
  }

  /** The live source of one project's streams. */
  source(projectId: string): LiveSource<ProjectEvent> {
    return { subscribe: (listener) => this.subscribe(projectId, listener) };
  }

  /** Projects followed on this instance (tests, metrics). */
  get followedProjects(): number {
    return this.followed.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.followed.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async subscribe(projectId: string, listener: (event: ProjectEvent) => void): Promise<() => void> {
    try {
      await this.listening;
    } catch {
      throw new ServiceUnavailableError('postgres', 'Live project events are unavailable');
    }
    let entry = this.followed.get(projectId);
    if (!entry) {
      const created: Followed = { listeners: new Set(), lastId: 0, ready: Promise.resolve(), fetching: false, again: false };
      created.ready = this.events.boundsOf(projectId).then((bounds) => {
        created.lastId = bounds.newestId;
      });
      entry = created;
      this.followed.set(projectId, entry);
    }
    entry.listeners.add(listener);
    const release = () => {
      const current = this.followed.get(projectId);
      if (!current) return;
      current.listeners.delete(listener);
      if (current.listeners.size === 0) this.followed.delete(projectId);
    };
    try {
      await entry.ready;
    } catch (error) {
      release();
      if (this.followed.get(projectId) === entry && entry.listeners.size === 0) this.followed.delete(projectId);
      throw error;
    }
    // Whatever committed between the starting point's read and now is read here.
    this.fetch(projectId, entry);
    return release;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ ...this.connection, application_name: 'jeex-api-project-feed' });
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      const entry = this.followed.get(message.payload);
      if (entry) this.fetch(message.payload, entry);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      this.scheduleReconnect();
      throw error;
    }
    this.client = client;
    this.backoff = RECONNECT_MS.min;
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    client.removeAllListeners();
    client.on('error', () => undefined);
    client.end().catch(() => undefined);
    this.log.warn({ reason: error.message }, 'project feed connection lost');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.listening = this.connect().then(() => {
        // Notifications sent while nobody listened are gone: read every followed project.
        for (const [projectId, entry] of this.followed) this.fetch(projectId, entry);
      });
      this.listening.catch(() => undefined);
    }, this.backoff);
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MS.max);
  }

  /** Reads the rows after the last one handed out, until none is left; one read at a time per project. */
  private fetch(projectId: string, entry: Followed): void {
    if (entry.fetching) {
      entry.again = true;
      return;
    }
    entry.fetching = true;
    const run = async () => {
      await entry.ready;
      for (;;) {
        entry.again = false;
        const page = await this.events.pageOf(projectId, entry.lastId, FETCH_LIMIT);
        for (const event of page) {
          if (event.id <= entry.lastId) continue;
          entry.lastId = event.id;
          for (const listener of entry.listeners) listener(event);
        }
        if (page.length === 0 && !entry.again) return;
      }
    };
    run()
      .catch((error: Error) => this.log.warn({ project_id: projectId, reason: error.message }, 'project feed read failed'))
      .finally(() => {
        entry.fetching = false;
      });
  }
}
