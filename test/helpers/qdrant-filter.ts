/*
 * Qdrant's filter semantics for the conditions the adapter and the tests use (match value /
 * any / except, is_empty, is_null, has_id, nested filters with must / should / must_not /
 * min_should). Anything else is refused loudly rather than guessed, so a test can never pass
 * because the stand-in misread a filter.
 * Reference: https://qdrant.tech/documentation/concepts/filtering/
 */

export interface StoredPoint {
  readonly id: string;
  readonly vector: number[];
  readonly payload: Record<string, unknown>;
}

export class UnsupportedCondition extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function list(clause: unknown): unknown[] {
  if (clause === undefined || clause === null) return [];
  return Array.isArray(clause) ? clause : [clause];
}

function valuesOf(point: StoredPoint, key: string): unknown[] {
  const value = point.payload[key];
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function fieldCondition(c: Obj, point: StoredPoint): boolean {
  const key = String(c.key);
  const values = valuesOf(point, key);
  const handled = new Set(['key', 'match', 'is_empty', 'is_null']);
  const unknown = Object.keys(c).filter((k) => !handled.has(k) && c[k] !== null && c[k] !== undefined);
  if (unknown.length > 0) throw new UnsupportedCondition(`field condition ${unknown.join(', ')}`);
  if (c.is_empty === true) return values.length === 0;
  if (c.is_null === true) return point.payload[key] === null;
  const match = c.match;
  if (!isObj(match)) throw new UnsupportedCondition('field condition without match');
  if ('value' in match) return values.some((v) => v === match.value);
  if ('any' in match && Array.isArray(match.any)) {
    const any = match.any;
    return values.some((v) => any.includes(v));
  }
  if ('except' in match && Array.isArray(match.except)) {
    const except = match.except;
    // What Qdrant does for a point without the field is not pinned down here: refuse, not guess.
    if (values.length === 0) throw new UnsupportedCondition(`match.except on missing field ${key}`);
    return values.some((v) => !except.includes(v));
  }
  throw new UnsupportedCondition(`match ${Object.keys(match).join(', ')}`);
}

export function conditionMatches(condition: unknown, point: StoredPoint): boolean {
  if (!isObj(condition)) throw new UnsupportedCondition('condition is not an object');
  if ('key' in condition) return fieldCondition(condition, point);
  if ('has_id' in condition && Array.isArray(condition.has_id)) return condition.has_id.includes(point.id);
  if ('is_empty' in condition && isObj(condition.is_empty)) return valuesOf(point, String(condition.is_empty.key)).length === 0;
  if ('is_null' in condition && isObj(condition.is_null)) return point.payload[String(condition.is_null.key)] === null;
  if ('nested' in condition || 'has_vector' in condition) throw new UnsupportedCondition(Object.keys(condition).join(', '));
  return filterMatches(condition, point);
}

export function filterMatches(filter: unknown, point: StoredPoint): boolean {
  if (filter === undefined || filter === null) return true;
  if (!isObj(filter)) throw new UnsupportedCondition('filter is not an object');
  const must = list(filter.must);
  const should = list(filter.should);
  const mustNot = list(filter.must_not);
  if (!must.every((c) => conditionMatches(c, point))) return false;
  if (should.length > 0 && !should.some((c) => conditionMatches(c, point))) return false;
  if (mustNot.some((c) => conditionMatches(c, point))) return false;
  const minShould = filter.min_should;
  if (isObj(minShould)) {
    const passing = list(minShould.conditions).filter((c) => conditionMatches(c, point)).length;
    if (passing < Number(minShould.min_count)) return false;
  }
  return true;
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
