import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { InternalError } from '../../../../lib/errors.js';
import { toPublic } from '../operations/operation-public.js';
import { errorResponses } from '../shared-schemas.js';
import { HeartbeatBody, HeartbeatPublic, LeaseCreate, LeaseParams, LeasePublic } from './schemas.js';

const tags = ['workers'];

function workerOf(request: FastifyRequest): string {
  if (request.caller?.kind !== 'worker') throw new InternalError('worker route reached without a worker credential');
  return request.caller.worker;
}

/**
 * docs/contract.md §8 Agent workers: leasing (long poll) and heartbeats. Worker credentials only
 * (`config.worker`, enforced by the authentication step); docs/adr/0020.
 */
const workerRoutes: FastifyPluginAsyncTypebox<{ defaultLeaseSeconds: number }> = async (app, { defaultLeaseSeconds }) => {
  const service = app.services.leases;

  app.post(
    '/worker/leases',
    {
      config: { worker: true },
      schema: {
        tags,
        operationId: 'leaseOperation',
        summary: 'Lease the oldest pending operation of some kinds (long poll)',
        description:
          'Worker credential only. 201 with the lease, the operation (now `running`, `operation.started` streamed), its project and an ' +
          'operation token; 204 when none appears within `wait_seconds` (a new operation wakes a waiting poll at once).',
        body: LeaseCreate,
        response: {
          201: LeasePublic,
          204: { type: 'null', description: 'No operation of those kinds within wait_seconds' },
          ...errorResponses(400, 401, 403, 413, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      // The poll ends early when the client goes away: its wait holds no operation yet.
      const gone = new AbortController();
      const onClose = () => gone.abort();
      request.raw.socket.once('close', onClose);
      try {
        const granted = await service.lease(
          {
            worker: workerOf(request),
            kinds: request.body.kinds,
            waitSeconds: request.body.wait_seconds ?? 0,
            leaseSeconds: request.body.lease_seconds ?? defaultLeaseSeconds,
          },
          gone.signal,
        );
        if (!granted) return reply.code(204).send(null);
        return reply.code(201).send({
          lease: { id: granted.lease.id, expires_at: granted.lease.expiresAt.toISOString(), attempt: granted.lease.attempt },
          operation: toPublic(granted.operation),
          project: granted.project,
          token: granted.token,
        });
      } finally {
        request.raw.socket.off('close', onClose);
      }
    },
  );

  app.post(
    '/worker/leases/:lease_id/heartbeat',
    {
      config: { worker: true },
      schema: {
        tags,
        operationId: 'heartbeatLease',
        summary: 'Extend a lease; learn whether the operation was cancelled',
        description:
          'Extends the lease by its `lease_seconds`. 409 when the lease is no longer current (expired — even if nobody took the ' +
          'operation yet — or the operation ended): stop working on it. Unknown lease → 404; another worker’s → 403.',
        params: LeaseParams,
        body: HeartbeatBody,
        response: { 200: HeartbeatPublic, ...errorResponses(400, 401, 403, 404, 409, 413, 422, 429, 503) },
      },
    },
    async (request) => {
      const { expiresAt, cancelRequested } = await service.heartbeat(request.params.lease_id, workerOf(request));
      return { expires_at: expiresAt.toISOString(), cancel_requested: cancelRequested };
    },
  );
};

export default workerRoutes;
