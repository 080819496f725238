import { readFileSync } from 'node:fs';

/*
 * Just enough of a Dockerfile reader for the deployment tests (no Docker engine runs here):
 * instructions with their line continuations joined, comments dropped, global ARG defaults
 * substituted into FROM, and stages in order. Exec-form arguments are JSON, as Docker reads them.
 */

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

export interface Stage {
  readonly name: string | undefined;
  readonly image: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  readonly stages: readonly Stage[];
  /** The stage `docker build` produces without `--target`: the last one. */
  readonly defaultStage: Stage;
  readonly stage: (name: string) => Stage;
}

function logicalLines(text: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (whole !== '') out.push(whole);
  }
  return out;
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: { name: string | undefined; image: string; instructions: Instruction[] }[] = [];
  for (const line of logicalLines(text)) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const keyword = (match[1] ?? '').toUpperCase();
    const args = match[2] ?? '';
    const current = stages.at(-1);
    if (keyword === 'FROM') {
      const [image = '', as, name] = args.split(/\s+/);
      const resolved = image.replace(/\$\{?(\w+)\}?/g, (_m, arg: string) => globalArgs[arg] ?? '');
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : undefined, image: resolved, instructions: [] });
    } else if (current) {
      current.instructions.push({ keyword, args });
    } else if (keyword === 'ARG') {
      const [name = '', value = ''] = args.split('=');
      globalArgs[name.trim()] = value.trim();
    }
  }
  const last = stages.at(-1);
  if (!last) throw new Error('no FROM in the Dockerfile');
  return {
    stages,
    defaultStage: last,
    stage: (name) => {
      const found = stages.find((s) => s.name === name);
      if (!found) throw new Error(`no stage named ${name}`);
      return found;
    },
  };
}

export function readDockerfile(url: URL): Dockerfile {
  return parseDockerfile(readFileSync(url, 'utf8'));
}

/** The last instruction of a kind in a stage (Docker keeps only the last CMD, ENTRYPOINT, USER…). */
export function lastOf(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}

/** Exec-form arguments (`["node", "server.js"]`); throws on shell form, which would wrap the process in `sh -c`. */
export function execForm(instruction: Instruction | undefined): string[] {
  if (!instruction) throw new Error('instruction missing');
  const parsed: unknown = JSON.parse(instruction.args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not exec form: ${instruction.args}`);
  return parsed;
}
