import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { createValidatorCompiler } from '../../../../src/plugins/http/validation.js';
import { Uuid } from '../../../../src/routes/api/v1/shared-schemas.js';

const compile = createValidatorCompiler();
const schema = Type.Object({ id: Uuid, ids: Type.Array(Uuid) }, { additionalProperties: false });

describe('the Uuid schema (docs/contract.md §13)', () => {
  for (const httpPart of ['body', 'querystring', 'params'] as const) {
    it(`when a ${httpPart} id is in upper case, it is valid and lowered where it stands`, () => {
      const validate = compile({ schema, httpPart, method: 'POST', url: '/' });
      const data = { id: '0193A6F3-1D2E-7F30-9B4C-5D6E7F809102', ids: ['0193A6F3-1D2E-7F30-9B4C-5D6E7F80910A'] };
      expect(validate(data)).toBe(true);
      expect(data).toEqual({ id: '0193a6f3-1d2e-7f30-9b4c-5d6e7f809102', ids: ['0193a6f3-1d2e-7f30-9b4c-5d6e7f80910a'] });
    });
  }

  it.each([
    'urn:uuid:0193a6f3-1d2e-7f30-9b4c-5d6e7f809102',
    '{0193a6f3-1d2e-7f30-9b4c-5d6e7f809102}',
    '0193a6f31d2e7f309b4c5d6e7f809102',
    '0193a6f3-1d2e-7f30-9b4c-5d6e7f80910',
    ' 0193a6f3-1d2e-7f30-9b4c-5d6e7f809102',
  ])('when the id is %j, it is invalid', (id) => {
    const validate = compile({ schema, httpPart: 'body', method: 'POST', url: '/' });
    expect(validate({ id, ids: [] })).toBe(false);
  });
});

describe('text PostgreSQL cannot store, and nesting (docs/contract.md §13)', () => {
  const anything = Type.Object({ data: Type.Unknown() });
  const validate = compile({ schema: anything, httpPart: 'body', method: 'POST', url: '/' }) as ((data: unknown) => boolean) & {
    errors?: Array<{ instancePath: string; message?: string }> | null;
  };
  const levels = (n: number): unknown => (n === 0 ? 1 : [levels(n - 1)]);

  it.each([
    ['NUL in a value', { data: { a: ['ok', 'x\u0000'] } }, '/data/a/1', 'must not contain NUL (U+0000)'],
    ['an unpaired high surrogate', { data: '\ud800' }, '/data', 'must not contain unpaired surrogates'],
    ['an unpaired low surrogate', { data: 'a\udc00b' }, '/data', 'must not contain unpaired surrogates'],
    [
      'NUL in a property name',
      { data: { 'a/b': { 'k\u0000': 1 } } },
      '/data/a~1b',
      'must not have a property name that contains NUL (U+0000)',
    ],
    ['65 levels', { data: levels(64) }, `/data${'/0'.repeat(63)}`, 'is nested deeper than 64 levels'],
  ])('when the body has %s, it is invalid at that path', (_name, body, instancePath, message) => {
    expect(validate(body)).toBe(false);
    expect(validate.errors).toEqual([expect.objectContaining({ instancePath, message })]);
  });

  it('when the body is 64 levels deep and its text well-formed (pairs, U+FFFD), it is valid', () => {
    expect(validate({ data: levels(63) })).toBe(true);
    expect(validate({ data: { '😀': '😀 \ufffd' } })).toBe(true);
  });
});
