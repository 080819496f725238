import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { createValidatorCompiler } from '../../src/lib/validation.js';
import { Uuid } from '../../src/routes/api/v1/shared-schemas.js';

const compile = createValidatorCompiler();
const schema = Type.Object({ id: Uuid, ids: Type.Array(Uuid) }, { additionalProperties: false });

describe('the Uuid schema (CONTRACT §13)', () => {
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
