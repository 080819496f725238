import { readFileSync } from 'node:fs';
import dotenv from 'dotenv';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
const configSource = readFileSync(new URL('../../src/config.ts', import.meta.url), 'utf8');

describe('.env.example', () => {
  it('is a valid configuration as written', () => {
    const result = loadConfig(dotenv.parse(example));
    expect(result.ok ? [] : result.problems).toEqual([]);
  });

  it('documents every variable the config reads', () => {
    const read = new Set([...configSource.matchAll(/r\.(?:string|int|bool|url|optional|oneOf)\('([A-Z_]+)'/g)].map((m) => m[1]));
    for (const key of ['JWT_PRIVATE_KEY', 'JWT_PUBLIC_KEY', 'CORS_ORIGINS', 'TRUSTED_PROXIES']) read.add(key);
    expect(read.size).toBeGreaterThan(20);
    const missing = [...read].filter((name) => !new RegExp(`^#?\\s*${name}(_FILE)?=`, 'm').test(example));
    expect(missing).toEqual([]);
  });
});
