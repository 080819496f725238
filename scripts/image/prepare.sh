#!/usr/bin/env bash
# Everything the image test tier needs before its tests (docs/adr/0013): an engine, the local base
# images, and the project's image built from the repository's Dockerfile with only NODE_IMAGE
# pointed at the local Node base. Each step reuses what is unchanged, so a second run takes
# seconds; .ci/run starts it early, in the background, and the tier's set-up runs it again.
# Prints "<docker CLI> <image>" on its last line of stdout; progress on stderr; exit 1 on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${JEEX_TEST_IMAGE:-jeex-api:image-test}
# Marks what this tier builds, so that its superseded (dangling) images can be pruned.
label=org.jeex.tier=image
log=${JEEX_IMAGE_BUILD_LOG:-${TMPDIR:-/tmp}/jeex-image-build.log}
say() { echo "image tier: $*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; }

t0=$(now)
cli=$(scripts/image/start-dockerd.sh | tail -n 1)
t1=$(now)
node_image=$(scripts/image/build-base.sh "$cli" | tail -n 1)
t2=$(now)

say "building $image from the Dockerfile on $node_image (log: $log)"
# BuildKit builds only the stages the runtime target needs; the legacy builder would build all.
if ! DOCKER_BUILDKIT=1 "$cli" build --progress=plain --build-arg "NODE_IMAGE=$node_image" --label "$label" --tag "$image" . >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  say "docker build failed (log: $log, end above)"
  exit 1
fi
t3=$(now)
"$cli" image prune --force --filter "label=$label" >/dev/null
say "engine $(secs "$t0" "$t1"), base images $(secs "$t1" "$t2"), project image $(secs "$t2" "$t3") ($(grep -c '^#[0-9]* CACHED$' "$log" || true) steps from cache)"
echo "$cli $image"
