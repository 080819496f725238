import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS with a default export property.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const COMMON: Options = {
  allErrors: true,
  useDefaults: true,
  removeAdditional: false,
  strict: false,
};

/**
 * An id as PostgreSQL's `uuid` reads it and as we answer it: 8-4-4-4-12 hex digits, any case
 * (docs/contract.md §13: matched case-insensitively). ajv-formats' own `uuid` also accepts
 * `urn:uuid:<uuid>`, which PostgreSQL refuses (22P02 → 500); that form is a 422 here
 * (docs/adr/0015).
 */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** docs/contract.md §13: deeper JSON is a 422, long before `JSON.stringify` overflows the stack (~5,000). */
export const MAX_JSON_DEPTH = 64;

type Schema = {
  format?: string;
  properties?: Record<string, Schema>;
  items?: Schema | Schema[];
  additionalProperties?: Schema | boolean;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
};

/** Whether a schema declares an id anywhere (most do not: their data is never walked). */
function declaresIds(schema: Schema | boolean | undefined): boolean {
  if (schema === undefined || typeof schema === 'boolean') return false;
  if (schema.format === 'uuid') return true;
  const children = [
    ...Object.values(schema.properties ?? {}),
    ...(Array.isArray(schema.items) ? schema.items : schema.items ? [schema.items] : []),
    ...(typeof schema.additionalProperties === 'object' ? [schema.additionalProperties] : []),
    ...(schema.anyOf ?? []),
    ...(schema.oneOf ?? []),
    ...(schema.allOf ?? []),
  ];
  return children.some(declaresIds);
}

/**
 * Lowers, in place, every valid id the schema declares (docs/contract.md §13), so services, the event
 * bus and responses see one spelling. Runs on data that passed validation.
 */
function lowerIds(schema: Schema, data: unknown): unknown {
  if (typeof data === 'string') {
    const declared = schema.format === 'uuid' || [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].some((s) => s.format === 'uuid');
    return declared && UUID_PATTERN.test(data) ? data.toLowerCase() : data;
  }
  if (data === null || typeof data !== 'object') return data;
  if (Array.isArray(data)) {
    const items = schema.items;
    if (items !== undefined && !Array.isArray(items)) for (let i = 0; i < data.length; i++) data[i] = lowerIds(items, data[i]);
    return data;
  }
  const record = data as Record<string, unknown>;
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    if (name in record) record[name] = lowerIds(child, record[name]);
  }
  return data;
}

interface Unstorable {
  /** Path segments from the offending value up to the root (built only on failure). */
  readonly segments: string[];
  readonly message: string;
}

/**
 * Text PostgreSQL cannot store (`text` 22021, `jsonb` 22P05), or JSON nested too deep. Runs
 * on every validated part of every request: no allocation unless something is found.
 */
function unstorable(value: unknown, depth: number): Unstorable | undefined {
  if (typeof value === 'string') {
    const reason = unstorableText(value);
    return reason ? { segments: [], message: `must not contain ${reason}` } : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  // The root container is level 1: level 65 is one too many.
  if (depth >= MAX_JSON_DEPTH) return { segments: [], message: `is nested deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorable(value[i], depth + 1);
      if (found) {
        found.segments.push(String(i));
        return found;
      }
    }
    return undefined;
  }
  const record = value as Record<string, unknown>;
  // Parsed JSON and parsed query strings have no inherited enumerable properties.
  for (const key in record) {
    const reason = unstorableText(key);
    if (reason) return { segments: [], message: `must not have a property name that contains ${reason}` };
    const found = unstorable(record[key], depth + 1);
    if (found) {
      found.segments.push(key.replaceAll('~', '~0').replaceAll('/', '~1'));
      return found;
    }
  }
  return undefined;
}

function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'NUL (U+0000)';
  if (!text.isWellFormed()) return 'unpaired surrogates';
  return undefined;
}

/** The problem as an Ajv issue, so the error handler reports it like any schema violation. */
function issue({ segments, message }: Unstorable): ErrorObject {
  const instancePath = segments.length === 0 ? '' : `/${segments.reverse().join('/')}`;
  return { instancePath, schemaPath: '', keyword: 'storable', params: {}, message };
}

type Validate = ((data: unknown, dataCxt?: unknown) => boolean) & { errors?: ErrorObject[] | null; schemaEnv?: unknown };

/**
 * Two validators: query strings, params and headers arrive as text and are coerced to the
 * schema's types (`?limit=20`); bodies are JSON and must already have the right types, so
 * `{"name": 123}` is a 422, not the string "123". Unknown body properties are rejected
 * (`additionalProperties: false` in the schemas), not silently dropped.
 *
 * Before the schema, every string (values and property names) and the nesting depth are
 * checked: what PostgreSQL cannot store, or what would overflow the stack when serialised,
 * is a 422 at the edge, never a 500 or a 503 halfway through a write (docs/contract.md §13). After
 * it, ids are lowered (docs/adr/0015).
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const withFormats = (ajv: Ajv) => addFormats(ajv).addFormat('uuid', UUID_PATTERN);
  const strict = withFormats(new Ajv({ ...COMMON, coerceTypes: false }));
  const coercing = withFormats(new Ajv({ ...COMMON, coerceTypes: 'array' }));
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    const validate = ajv.compile(schema as object) as Validate;
    const ids = declaresIds(schema as Schema);
    // Header values cannot carry NUL (Node's parser refuses them) and are never stored.
    const checkText = httpPart !== 'headers';
    const checked: Validate = (data, dataCxt) => {
      const problem = checkText ? unstorable(data, 0) : undefined;
      if (problem) {
        checked.errors = [issue(problem)];
        return false;
      }
      const valid = validate(data, dataCxt);
      checked.errors = validate.errors ?? null;
      if (valid && ids) lowerIds(schema as Schema, data);
      return valid;
    };
    // Fastify passes the parent to an Ajv function (it has a schemaEnv), so a root value can be replaced.
    checked.schemaEnv = validate.schemaEnv;
    return checked as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}
