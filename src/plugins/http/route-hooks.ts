import type { RouteOptions } from 'fastify';

type HookName = 'onRequest' | 'preValidation';
type Hook = NonNullable<RouteOptions['preValidation']> extends infer H ? (H extends readonly unknown[] ? H[number] : H) : never;

/**
 * Appends a hook to one route (from an `onRoute` hook). The chain's per-route steps —
 * authentication, project access, rate limiting — are attached only to the routes they
 * apply to, so a health check pays nothing for them, and the order of the steps is the
 * order their plugins are registered in app.ts.
 */
export function appendRouteHook(route: RouteOptions, name: HookName, hook: Hook): void {
  const existing = route[name];
  const list = existing === undefined ? [] : Array.isArray(existing) ? [...existing] : [existing];
  (route as Record<HookName, unknown>)[name] = [...list, hook];
}
