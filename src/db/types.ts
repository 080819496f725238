import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Database types in one place (issue 3). Column names are snake_case as in SQL; Kysely's
 * CamelCasePlugin maps them to camelCase for the code, so the mapping happens once.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, never, never>;
type UpdatedAt = ColumnType<Date, never, never>;
type JsonObject = Record<string, unknown>;
type Json = ColumnType<JsonObject, JsonObject | undefined, JsonObject>;

export type ProjectStatus = 'draft' | 'active' | 'completed' | 'archived';
export type ProjectRole = 'owner' | 'editor' | 'viewer';
export type DocumentType = 'about' | 'specs' | 'architecture' | 'plan';
export type OperationStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export const PROJECT_STATUSES: readonly ProjectStatus[] = ['draft', 'active', 'completed', 'archived'];
export const PROJECT_ROLES: readonly ProjectRole[] = ['owner', 'editor', 'viewer'];
export const DOCUMENT_TYPES: readonly DocumentType[] = ['about', 'specs', 'architecture', 'plan'];
export const OPERATION_STATUSES: readonly OperationStatus[] = ['pending', 'running', 'completed', 'failed', 'cancelled'];

export interface UsersTable {
  id: Generated<string>;
  email: string;
  name: string;
  profileData: Json;
  lastLoginAt: Timestamp | null;
  createdAt: CreatedAt;
  updatedAt: UpdatedAt;
}

export interface ProjectsTable {
  id: Generated<string>;
  name: string;
  status: ColumnType<ProjectStatus, ProjectStatus | undefined, ProjectStatus>;
  currentStep: ColumnType<number, number | undefined, number>;
  language: ColumnType<string, string | undefined, never>;
  metadata: Json;
  createdBy: string;
  createdAt: CreatedAt;
  updatedAt: UpdatedAt;
  deletedAt: Timestamp | null;
  isDeleted: ColumnType<boolean, boolean | undefined, boolean>;
  /** Bumped by the database on every UPDATE: the project's ETag (docs/adr/0021). */
  rowVersion: ColumnType<string, never, never>;
}

export interface ProjectMembersTable {
  id: Generated<string>;
  projectId: string;
  userId: string;
  role: ProjectRole;
  createdAt: CreatedAt;
  updatedAt: UpdatedAt;
}

export interface DocumentVersionsTable {
  id: Generated<string>;
  projectId: string;
  documentType: DocumentType;
  version: number;
  content: string;
  metadata: Json;
  readabilityScore: number | null;
  grammarScore: number | null;
  createdBy: string;
  createdAt: CreatedAt;
  updatedAt: UpdatedAt;
  deletedAt: Timestamp | null;
  isDeleted: ColumnType<boolean, boolean | undefined, boolean>;
}

export interface OperationsTable {
  id: Generated<string>;
  projectId: string;
  kind: string;
  status: ColumnType<OperationStatus, OperationStatus | undefined, OperationStatus>;
  input: Json;
  output: ColumnType<JsonObject | null, JsonObject | null | undefined, JsonObject | null>;
  error: string | null;
  createdBy: string;
  startedAt: Timestamp | null;
  completedAt: Timestamp | null;
  createdAt: CreatedAt;
  updatedAt: UpdatedAt;
  /** The operation's event sequence: the id of its newest event (0 before the first). */
  lastEventId: ColumnType<number, never, number>;
  /** Bytes of event `data` ever published (retention arithmetic, docs/adr/0016). */
  eventBytes: ColumnType<string, never, string>;
  /** Leases granted so far (docs/contract.md §8); the current lease's attempt number. */
  attempt: ColumnType<number, never, number>;
  /** The current (or last) lease; current while `running` and `leaseExpiresAt` is in the future. */
  leaseId: ColumnType<string | null, never, string | null>;
  leaseSeconds: ColumnType<number | null, never, number | null>;
  leaseExpiresAt: ColumnType<Date | null, never, Date | string | null>;
  cancelRequested: ColumnType<boolean, never, boolean>;
}

export interface OperationLeasesTable {
  id: Generated<string>;
  operationId: string;
  projectId: string;
  worker: string;
  attempt: number;
  createdAt: CreatedAt;
}

export interface OperationEventsTable {
  operationId: string;
  seq: number;
  projectId: string;
  type: string;
  data: unknown;
  status: OperationStatus | null;
  bytes: number;
  endOffset: ColumnType<string, string | number, never>;
  /** The worker's own event number (idempotent publishing, docs/contract.md §8). */
  clientSeq: number | null;
  /** The worker that wrote the event through an operation token. */
  worker: string | null;
  createdAt: CreatedAt;
}

/** Vector deletions owed for deleted projects (migration 0003). */
export interface VectorPurgesTable {
  projectId: string;
  language: string;
  attempts: ColumnType<number, number | undefined, number>;
  lastError: string | null;
  nextAttemptAt: ColumnType<Date, Date | string | undefined, Date | string>;
  createdAt: CreatedAt;
}

export interface IdempotencyKeysTable {
  caller: string;
  key: string;
  method: string;
  path: string;
  fingerprint: string;
  statusCode: number | null;
  contentType: string | null;
  headers: ColumnType<Record<string, string> | null, string | null | undefined, string | null>;
  body: string | null;
  createdAt: ColumnType<Date, never, never>;
  completedAt: Timestamp | null;
}

export interface AuditLogTable {
  id: Generated<string>;
  at: ColumnType<Date, never, never>;
  projectId: string;
  actorUserId: string;
  actorWorker: string | null;
  action: string;
  targetType: string;
  targetId: string;
  correlationId: string | null;
  changes: ColumnType<JsonObject, string, never>;
}

/** Per-project counters (docs/adr/0022): the project stream's sequence and the message order. */
export interface ProjectStreamsTable {
  projectId: string;
  lastEventId: ColumnType<number, never, never>;
  eventBytes: ColumnType<string, never, never>;
  lastMessageSeq: ColumnType<number, never, never>;
}

/** Written only by the database's `append_project_event` (triggers): read-only here. */
export interface ProjectEventsTable {
  projectId: string;
  seq: number;
  type: string;
  data: unknown;
  bytes: number;
  endOffset: ColumnType<string, never, never>;
  createdAt: CreatedAt;
}

export type MessageRole = 'user' | 'assistant';
export type MessageStatus = 'complete' | 'streaming' | 'failed';

export interface MessagesTable {
  id: Generated<string>;
  projectId: string;
  /** Given by a trigger (the project's message order). */
  seq: ColumnType<number, never, never>;
  role: MessageRole;
  authorUserId: string;
  authorAgent: string | null;
  content: ColumnType<string, string | undefined, string>;
  status: MessageStatus;
  metadata: Json;
  replyTo: string | null;
  operationId: string | null;
  lastDeltaSeq: ColumnType<number, never, number>;
  createdAt: CreatedAt;
  completedAt: Timestamp | null;
}

export type ExportRowStatus = 'pending' | 'ready' | 'expired';

export interface ExportsTable {
  id: Generated<string>;
  projectId: string;
  operationId: string;
  createdBy: string;
  /** What the builder recorded; the public status also reads the operation (docs/contract.md §11). */
  status: ColumnType<ExportRowStatus, ExportRowStatus | undefined, ExportRowStatus>;
  fileName: string | null;
  bytes: ColumnType<string | null, number | null | undefined, number | null>;
  sha256: string | null;
  attempt: number | null;
  createdAt: CreatedAt;
  completedAt: Timestamp | null;
  expiresAt: Timestamp;
}

export interface ExportChunksTable {
  exportId: string;
  attempt: number;
  seq: number;
  data: Buffer;
}

export interface Database {
  users: UsersTable;
  projects: ProjectsTable;
  projectMembers: ProjectMembersTable;
  documentVersions: DocumentVersionsTable;
  operations: OperationsTable;
  vectorPurges: VectorPurgesTable;
  operationEvents: OperationEventsTable;
  operationLeases: OperationLeasesTable;
  idempotencyKeys: IdempotencyKeysTable;
  auditLog: AuditLogTable;
  projectStreams: ProjectStreamsTable;
  projectEvents: ProjectEventsTable;
  messages: MessagesTable;
  exports: ExportsTable;
  exportChunks: ExportChunksTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type Project = Selectable<ProjectsTable>;
export type NewProject = Insertable<ProjectsTable>;
export type ProjectUpdate = Updateable<ProjectsTable>;
export type ProjectMember = Selectable<ProjectMembersTable>;
export type DocumentVersion = Selectable<DocumentVersionsTable>;
export type NewDocumentVersion = Insertable<DocumentVersionsTable>;
export type Operation = Selectable<OperationsTable>;
export type Message = Selectable<MessagesTable>;
/** A project row as the access guard reads it: with the project stream's current id when the query brought it (docs/adr/0022). */
export type ProjectRead = Project & { readonly lastEventId?: number };
export type ExportRow = Selectable<ExportsTable>;
