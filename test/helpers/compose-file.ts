import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** The parts of a compose service the deployment tests read. */
export interface ComposeService {
  readonly image?: string;
  readonly build?: string | { context?: string; target?: string; dockerfile_inline?: string };
  readonly command?: string | string[];
  readonly environment?: Record<string, string | number | boolean | null> | string[];
  readonly ports?: (string | { target: number; published?: string | number; host_ip?: string })[];
  readonly volumes?: (string | { type: string; source?: string; target: string })[];
  readonly secrets?: (string | { source: string; target?: string })[];
  readonly healthcheck?: { test?: string | string[]; disable?: boolean };
  readonly depends_on?: string[] | Record<string, { condition?: string }>;
  readonly profiles?: string[];
}

export interface ComposeFile {
  readonly services: Record<string, ComposeService>;
  readonly volumes?: Record<string, unknown>;
  readonly secrets?: Record<string, { file?: string }>;
}

/** compose.yaml as Docker Compose loads it: YAML with anchors and `<<` merge keys resolved. */
export function readCompose(url: URL): { raw: unknown; compose: ComposeFile } {
  const raw: unknown = parse(readFileSync(url, 'utf8'), { merge: true });
  return { raw, compose: raw as ComposeFile };
}

/**
 * Compose's interpolation with an empty `.env`: `${NAME:-default}` and `${NAME-default}` become
 * the default, `${NAME}` and `$NAME` become empty, `$$` is a literal `$`.
 */
export function interpolate(value: string, env: Readonly<Record<string, string>> = {}): string {
  return value.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)/g, (match, braced?: string, fallback?: string, bare?: string) => {
    if (match === '$$') return '$';
    const name = braced ?? bare ?? '';
    return env[name] ?? fallback ?? '';
  });
}

/** A service's environment as a name → value map (after interpolation). */
export function environmentOf(service: ComposeService, env: Readonly<Record<string, string>> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = Array.isArray(service.environment)
    ? service.environment.map((e) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
      })
    : Object.entries(service.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]);
  for (const [name = '', value = ''] of entries) out[name] = interpolate(value, env);
  return out;
}

export function commandOf(service: ComposeService): string[] {
  const { command } = service;
  if (command === undefined) return [];
  return Array.isArray(command) ? command : command.split(/\s+/);
}
