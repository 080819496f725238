import { type Compilable, CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database } from '../db/types.js';
import { ForbiddenError } from '../lib/errors.js';

export type Db = Kysely<Database> | Transaction<Database>;

/**
 * Base of every project-scoped repository (REQ-008, SEC-002). Its methods take the
 * ProjectScope first (by type: forgetting it does not compile) and every query filters
 * `project_id = scope.projectId` before anything else; creates go through `assertInScope`,
 * which refuses a row of another project. Soft-deleted rows are excluded unless a method
 * says otherwise.
 */
export abstract class ScopedRepository {
  constructor(protected readonly db: Db) {}

  protected assertInScope(scope: ProjectScope, projectId: string): void {
    if (projectId !== scope.projectId) {
      throw new ForbiddenError('The entity belongs to another project');
    }
  }
}

interface Compiled {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  /** Where each argument goes in `parameters` (an argument may be used more than once). */
  readonly slots: readonly (readonly number[])[];
}

/**
 * A hot read whose SQL Kysely builds and compiles once; each call binds its own values
 * (docs/adr/0026). Building and compiling on every call was ~9 % of the Node CPU of the
 * authenticated project read (bench/RESULTS.md `project-read`). The SQL is the builder's, as
 * before; rows still go through the handle's plugins (camelCase). One compiled text serves every
 * handle: they all come from src/db/database.ts (same dialect, same plugins). The builder must
 * pass each argument as a value (it is compiled with marker strings in their place, which must
 * each come out as a parameter).
 */
export class CompiledRead<A extends readonly string[], R> {
  private compiled: Compiled | undefined;

  constructor(private readonly build: (db: Db, ...args: A) => Compilable<R>) {}

  async execute(db: Db, ...args: A): Promise<R[]> {
    const compiled = this.compiled ?? this.compile(db, args.length);
    const parameters = compiled.parameters.slice();
    for (let i = 0; i < args.length; i++) for (const slot of compiled.slots[i] ?? []) parameters[slot] = args[i];
    const result = await db.executeQuery(CompiledQuery.raw(compiled.sql, parameters));
    return result.rows as R[];
  }

  private compile(db: Db, arity: number): Compiled {
    const markers = Array.from({ length: arity }, (_, i) => `\u0000compiled-read-arg-${i}`);
    const { sql, parameters } = this.build(db, ...(markers as unknown as A)).compile();
    const slots = markers.map((marker) => {
      const found = parameters.flatMap((value, at) => (value === marker ? [at] : []));
      if (found.length === 0) throw new Error(`CompiledRead: argument ${markers.indexOf(marker)} is not a parameter of: ${sql}`);
      return found;
    });
    this.compiled = { sql, parameters: [...parameters], slots };
    return this.compiled;
  }
}
