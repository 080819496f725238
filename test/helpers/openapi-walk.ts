import { randomUUID } from 'node:crypto';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  format?: string;
  minimum?: number;
  examples?: unknown[];
  $ref?: string;
}

export interface RouteEntry {
  readonly method: string;
  /** OpenAPI path, e.g. /api/v1/projects/{project_id} */
  readonly path: string;
  readonly bodySchema: JsonSchema | undefined;
}

interface OpenApiDoc {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

/** Every operation of the app's own OpenAPI document (generated from its route table). */
export function routesOf(doc: unknown): RouteEntry[] {
  const out: RouteEntry[] = [];
  const api = doc as OpenApiDoc;
  for (const [path, ops] of Object.entries(api.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      let schema = op.requestBody?.content?.['application/json']?.schema;
      if (schema?.$ref) schema = api.components?.schemas?.[schema.$ref.split('/').pop() ?? ''];
      out.push({ method: method.toUpperCase(), path, bodySchema: schema });
    }
  }
  return out;
}

/** A small valid value for a JSON schema (enough for the API's request bodies). */
export function validValue(schema: JsonSchema): unknown {
  if (schema.examples?.length) return schema.examples[0];
  if (schema.const !== undefined) return schema.const;
  if (schema.enum?.length) return schema.enum.includes('en') ? 'en' : schema.enum[0];
  if (schema.anyOf?.length) return validValue(schema.anyOf[0] as JsonSchema);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = validValue(schema.properties?.[key] ?? {});
      return out;
    }
    case 'string':
      if (schema.format === 'uuid') return randomUUID();
      if (schema.format === 'email') return 'someone@example.com';
      return 'valid';
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    default:
      return {};
  }
}

/** The concrete URL of an OpenAPI path with the given parameter values. */
export function fill(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for path parameter ${name} in ${path}`);
    return value;
  });
}
