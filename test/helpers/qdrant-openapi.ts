import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/*
 * Qdrant 1.15's own OpenAPI document (test/fixtures/vendor), turned into validators for the stand-in:
 * which operation a request is, whether its query and body are what that operation accepts,
 * and whether a response is what it returns. OpenAPI 3.0 is not JSON Schema: `nullable` and
 * `example` are rewritten, and Qdrant's integer/float formats registered.
 */

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const DOC_PATH = new URL('../fixtures/vendor/qdrant-openapi-v1.15.json', import.meta.url);
const DOC_ID = 'qdrant-1.15.json';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly schema?: JsonObject;
}

interface Operation {
  readonly operationId: string;
  readonly parameters?: Parameter[];
  readonly requestBody?: { content: Record<string, { schema: JsonObject }> };
  readonly responses: Record<string, { content?: Record<string, { schema: JsonObject }> }>;
}

export interface MatchedOperation {
  readonly operationId: string;
  readonly template: string;
  readonly params: Record<string, string>;
}

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * OpenAPI 3.0 schema → JSON Schema (draft-07 as Ajv reads it). `closed` also forbids properties
 * a schema does not declare: most Qdrant schemas leave that open, and a misspelt field (say
 * `tenant` for `is_tenant`) would otherwise pass here and be ignored by the real server. The
 * document has no allOf, so closing each object schema on its own is sound.
 */
function toJsonSchema(node: Json, closed = false): Json {
  if (Array.isArray(node)) return node.map((n) => toJsonSchema(n, closed));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'example' || key === 'nullable') continue;
    if (key === 'properties' && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, toJsonSchema(schema, closed)]));
    } else if (key === '$ref' && typeof value === 'string') {
      out[key] = value.replace(/^#\/components\/schemas\//, `${DOC_ID}#/definitions/`);
    } else {
      out[key] = toJsonSchema(value, closed);
    }
  }
  if (closed && isObject(out.properties) && out.additionalProperties === undefined) out.additionalProperties = false;
  if (node.nullable !== true) return out;
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    return out;
  }
  const { description, default: _default, ...rest } = out;
  if (Object.keys(rest).length === 0) return { type: 'null' };
  return { anyOf: [rest, { type: 'null' }] };
}

function pathRegex(template: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { regex: new RegExp(`^${source}$`), names };
}

export class QdrantOpenApi {
  private readonly strict: Ajv;
  private readonly ajv: Ajv;
  private readonly coercing: Ajv;
  private readonly paths: Array<{ template: string; regex: RegExp; names: string[]; methods: Record<string, Operation> }>;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor() {
    const doc = JSON.parse(readFileSync(DOC_PATH, 'utf8')) as {
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: JsonObject };
    };
    const definitions = (closed: boolean) =>
      Object.fromEntries(Object.entries(doc.components.schemas).map(([name, schema]) => [name, toJsonSchema(schema, closed)]));
    const make = (coerceTypes: boolean, closed: boolean) => {
      const ajv = new Ajv({ strict: true, strictTypes: false, allowUnionTypes: true, allErrors: true, coerceTypes });
      addFormats(ajv);
      const integer = (n: number) => Number.isInteger(n);
      ajv.addFormat('uint', { type: 'number', validate: (n: number) => integer(n) && n >= 0 });
      ajv.addFormat('uint32', { type: 'number', validate: (n: number) => integer(n) && n >= 0 && n < 2 ** 32 });
      ajv.addFormat('uint64', { type: 'number', validate: (n: number) => integer(n) && n >= 0 });
      ajv.addFormat('int64', { type: 'number', validate: integer });
      ajv.addFormat('float', { type: 'number', validate: Number.isFinite });
      ajv.addFormat('double', { type: 'number', validate: Number.isFinite });
      ajv.addFormat('partial-date-time', true);
      ajv.addFormat('binary', true);
      ajv.addSchema({ $id: DOC_ID, definitions: definitions(closed) }, DOC_ID);
      return ajv;
    };
    // Requests are held to the closed schemas; answers (ours, built from the same document) to the open ones.
    this.strict = make(false, true);
    this.ajv = make(false, false);
    this.coercing = make(true, false);
    // Literal segments win over parameters (`points/delete` is not `points/{id}`).
    this.paths = Object.entries(doc.paths)
      .map(([template, methods]) => ({ template, methods, ...pathRegex(template) }))
      .sort((a, b) => a.names.length - b.names.length);
  }

  /** The operation for this method and path, or null when the document has none. */
  match(method: string, pathname: string): MatchedOperation | null {
    for (const entry of this.paths) {
      const m = entry.regex.exec(pathname);
      const operation = entry.methods[method.toLowerCase()];
      if (!m || !operation) continue;
      const params = Object.fromEntries(entry.names.map((name, i) => [name, decodeURIComponent(m[i + 1] ?? '')]));
      return { operationId: operation.operationId, template: entry.template, params };
    }
    return null;
  }

  /** Problems with the request's query string and JSON body, as readable lines (empty: valid). */
  checkRequest(op: MatchedOperation, method: string, query: URLSearchParams, body: unknown): string[] {
    const operation = this.operation(op, method);
    const problems: string[] = [];
    const declared = new Map((operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => [p.name, p]));
    for (const [name, value] of query) {
      const parameter = declared.get(name);
      if (!parameter) {
        problems.push(`query parameter "${name}" is not declared by ${op.operationId}`);
        continue;
      }
      // Wrapped in an object so Ajv can coerce the text in place ("true" → true).
      const validate = this.compile(this.coercing, `${op.operationId}?${name}`, {
        type: 'object',
        properties: { value: parameter.schema ?? {} },
      });
      if (!validate({ value })) problems.push(`query parameter "${name}=${value}": ${this.ajv.errorsText(validate.errors)}`);
    }
    const schema = operation.requestBody?.content['application/json']?.schema;
    if (schema === undefined && body !== undefined) problems.push(`${op.operationId} takes no JSON body`);
    if (schema !== undefined && body !== undefined) {
      const validate = this.compile(this.strict, `${op.operationId}#request`, schema, true);
      if (!validate(body)) problems.push(`${op.operationId} request body: ${this.ajv.errorsText(validate.errors, { dataVar: 'body' })}`);
    }
    return problems;
  }

  /** Problems with a JSON response for this status (exact code, then `4XX`, then `default`). */
  checkResponse(op: MatchedOperation, method: string, status: number, body: unknown): string[] {
    const responses = this.operation(op, method).responses;
    const response = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
    if (!response) return [`${op.operationId} declares no response for ${status}`];
    const schema = response.content?.['application/json']?.schema;
    if (!schema) return [];
    const validate = this.compile(this.ajv, `${op.operationId}#response-${status}`, schema);
    return validate(body) ? [] : [`${op.operationId} ${status} response: ${this.ajv.errorsText(validate.errors, { dataVar: 'response' })}`];
  }

  private operation(op: MatchedOperation, method: string): Operation {
    const entry = this.paths.find((p) => p.template === op.template);
    const operation = entry?.methods[method.toLowerCase()];
    if (!operation) throw new Error(`no operation ${method} ${op.template}`);
    return operation;
  }

  private compile(ajv: Ajv, key: string, schema: JsonObject, closed = false): ValidateFunction {
    let validate = this.cache.get(key);
    if (!validate) {
      validate = ajv.compile(toJsonSchema(schema, closed) as JsonObject);
      this.cache.set(key, validate);
    }
    return validate;
  }
}
