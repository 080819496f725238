#!/usr/bin/env bash
# Makes sure a Docker engine answers, for the image test tier (`npm run test:image`, README
# "The image test tier", docs/adr/0013). Prints the docker CLI to use on its last line of stdout.
#
# - An engine that already answers is used as it is.
# - Otherwise, as root with apt: installs Debian's docker.io when dockerd is missing, then starts
#   dockerd in the background (its own session, so it outlives this script and the next run
#   reuses it with its image cache), log in $JEEX_DOCKERD_LOG, and waits for its socket.
# - Anything else: one line saying why on stderr, exit 1. The tier never passes without an engine.
#
# The CLI: Debian's 20.10 `docker` (/usr/bin/docker) builds with BuildKit on its own; a newer CLI
# without the buildx plugin can only use the legacy builder (every stage built). Override: $DOCKER.
set -euo pipefail

log=${JEEX_DOCKERD_LOG:-/var/log/jeex-dockerd.log}
fail() { echo "image tier: $*" >&2; exit 1; }

pick_cli() {
  if [ -n "${DOCKER:-}" ]; then echo "$DOCKER"; return; fi
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; return; fi
  command -v docker || true
}

answers() { [ -n "$1" ] && "$1" info >/dev/null 2>&1; }

cli=$(pick_cli)
if answers "$cli"; then echo "$cli"; exit 0; fi

if ! command -v dockerd >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || fail "no Docker engine answers and dockerd is not installed; as root, run: apt-get install -y --no-install-recommends docker.io"
  command -v apt-get >/dev/null 2>&1 || fail "no Docker engine answers, dockerd is not installed and there is no apt-get to install docker.io"
  echo "image tier: installing docker.io (Debian)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be missing on a fresh machine; another apt may hold the lock for a while.
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends docker.io >/dev/null 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends docker.io >/dev/null; } ||
    fail "apt-get install docker.io failed"
  cli=$(pick_cli)
fi
[ -n "$cli" ] || fail "dockerd is installed but no docker CLI was found (set DOCKER=/path/to/docker)"

[ "$(id -u)" = 0 ] || fail "no Docker engine answers on ${DOCKER_HOST:-/var/run/docker.sock} and only root can start dockerd here"
# A daemon that is running but not answering (still starting, or stuck) is not started twice.
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "image tier: starting dockerd (log: $log)" >&2
  mkdir -p "$(dirname "$log")"
  setsid dockerd >>"$log" 2>&1 </dev/null &
fi
for _ in $(seq 1 300); do
  if answers "$cli"; then echo "$cli"; exit 0; fi
  sleep 0.1
done
tail -n 20 "$log" >&2 || true
fail "dockerd did not answer within 30 s (log: $log, above)"
