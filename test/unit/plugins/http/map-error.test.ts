import { describe, expect, it } from 'vitest';
import { ConflictError, ServiceUnavailableError } from '../../../../src/lib/errors.js';
import { toAppError } from '../../../../src/plugins/http/map-error.js';

describe('toAppError', () => {
  it.each([
    [{ code: '23505' }, 'conflict', 409],
    [{ code: '23503' }, 'conflict', 409],
    [{ code: '40001' }, 'conflict', 409],
    [{ code: '57P01' }, 'service_unavailable', 503],
    [{ code: 'ECONNREFUSED' }, 'service_unavailable', 503],
    [{ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 'payload_too_large', 413],
    [{ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }, 'bad_request', 400],
    [{ code: '22021' }, 'validation_error', 422],
    [{ code: '22P05' }, 'validation_error', 422],
    [{ code: '22P02' }, 'validation_error', 422],
    [{ code: 'FST_ERR_BAD_URL', statusCode: 400 }, 'bad_request', 400],
    [{ code: 'FST_ERR_MAX_PARAM_LENGTH', statusCode: 414 }, 'uri_too_long', 414],
    [{ code: 'HPE_HEADER_OVERFLOW' }, 'headers_too_large', 431],
    [{ code: 'HPE_INVALID_METHOD' }, 'bad_request', 400],
    [{ code: 'ERR_HTTP_REQUEST_TIMEOUT' }, 'request_timeout', 408],
    [{ statusCode: 404 }, 'not_found', 404],
    [{ statusCode: 400, message: 'bad' }, 'bad_request', 400],
    [new Error('boom'), 'internal_error', 500],
    [null, 'internal_error', 500],
    ['a string', 'internal_error', 500],
  ])('maps %o to %s', (input, code, status) => {
    const error = toAppError(input);
    expect(error.code).toBe(code);
    expect(error.statusCode).toBe(status);
  });

  it('never carries the original message of an unknown error', () => {
    expect(toAppError(new Error('password=hunter2 SELECT * FROM users')).message).toBe('Internal server error');
  });

  it('never echoes the path of a bad URL or the SQL of a refused value', () => {
    expect(
      toAppError({ code: 'FST_ERR_BAD_URL', statusCode: 400, message: "'/x/%E0' is not a valid url component" }).message,
    ).not.toContain('%E0');
    expect(
      JSON.stringify(toAppError({ code: '22P05', message: 'unsupported Unicode escape sequence', where: 'JSON data, line 1' })),
    ).not.toMatch(/Unicode|JSON data/);
  });

  it('names the failed service on 503s', () => {
    const error = toAppError({ code: '08006' });
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error.details).toEqual({ service: 'postgres' });
  });

  it('keeps our own errors as they are', () => {
    const own = new ConflictError('taken');
    expect(toAppError(own)).toBe(own);
  });

  it('turns schema issues into {path, message} with the missing or unknown property in the path', () => {
    const error = toAppError({
      validationContext: 'body',
      validation: [
        { instancePath: '', keyword: 'required', params: { missingProperty: 'name' }, message: "must have required property 'name'" },
        {
          instancePath: '',
          keyword: 'additionalProperties',
          params: { additionalProperty: 'x' },
          message: 'must NOT have additional properties',
        },
        { instancePath: '/meta/0', keyword: 'type', params: {}, message: 'must be string' },
      ],
    });
    expect(error.statusCode).toBe(422);
    expect(error.details).toEqual({
      errors: [
        { path: 'body/name', message: "must have required property 'name'" },
        { path: 'body/x', message: 'unknown property' },
        { path: 'body/meta/0', message: 'must be string' },
      ],
    });
  });
});
