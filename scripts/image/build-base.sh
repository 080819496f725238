#!/usr/bin/env bash
# The local base images the image test tier builds the project's Dockerfile on, because no image
# registry is reachable here (docs/adr/0013):
#   $JEEX_BASE_IMAGE (jeex/base:bookworm)  Debian bookworm minbase from debootstrap, `docker import`ed
#   $JEEX_NODE_IMAGE (jeex/node:24)        + the Node 24 binary of the npm `node` package, npm, a
#                                          `node` user (uid 1000, as in the official node images)
#                                          and the host's extra CA certificates (NODE_EXTRA_CA_CERTS)
# Each is reused when it exists with the label org.jeex.input-hash equal to the hash of what it
# is made from (this script, the Debian suite, the Node binary, npm, the certificates), so only a
# first run pays for debootstrap (~80 s). Usage: build-base.sh <docker CLI>; prints the Node
# image's tag on its last line of stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."

docker=${1:?usage: build-base.sh <docker CLI>}
base_image=${JEEX_BASE_IMAGE:-jeex/base:bookworm}
node_image=${JEEX_NODE_IMAGE:-jeex/node:24}
suite=bookworm
say() { echo "image tier: $*" >&2; }
fail() { say "$*"; exit 1; }
label_of() { "$docker" image inspect --format '{{ index .Config.Labels "org.jeex.input-hash" }}' "$1" 2>/dev/null || true; }
sha() { sha256sum | cut -c1-64; }

# The first Debian mirror apt is configured with (one-line or deb822 sources), unless given.
debian_mirror() {
  if [ -n "${JEEX_DEBIAN_MIRROR:-}" ]; then echo "$JEEX_DEBIAN_MIRROR"; return; fi
  local found
  found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE '(https?://[^ ]+/debian)/?( |$)' | grep -v -- '-security' | head -n 1 | tr -d ' ' || true)
  echo "${found:-http://deb.debian.org/debian}"
}

# ---- the Debian base ------------------------------------------------------------------------------
base_hash=$(printf '%s\n' "$suite" minbase "$(sed -n '/^# ---- the Debian base/,/^# ---- end of the Debian base/p' "$0")" | sha)
if [ "$(label_of "$base_image")" = "$base_hash" ]; then
  say "reusing $base_image"
else
  command -v debootstrap >/dev/null 2>&1 || {
    [ "$(id -u)" = 0 ] || fail "debootstrap is missing (apt-get install debootstrap, as root)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends debootstrap >/dev/null ||
      fail "apt-get install debootstrap failed"
  }
  mirror=$(debian_mirror)
  root=$(mktemp -d /var/tmp/jeex-debootstrap.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  say "debootstrap --variant=minbase $suite from $mirror (about 80 s, once)"
  started=$(date +%s)
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log" >&2; fail "debootstrap failed (log: $root.log)"; }
  rm -f "$root.log"
  # Downloaded packages and lists are not part of an image; the Dockerfile runs apt-get update.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$docker" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.jeex.input-hash=$base_hash" \
    --change 'CMD ["bash"]' - "$base_image" >/dev/null
  rm -rf "$root"
  trap - EXIT
  say "built $base_image in $(( $(date +%s) - started )) s"
fi
# ---- end of the Debian base

# ---- the Node 24 layer ----------------------------------------------------------------------------
node_bin=$(readlink -f node_modules/node/bin/node 2>/dev/null || true)
[ -n "$node_bin" ] && [ -x "$node_bin" ] ||
  fail "node_modules/node/bin/node (the Node 24 binary of the npm node package) is missing: run npm ci first"
# npm: the one running this tier (npm scripts set npm_execpath), else the global one.
npm_dir=""
if [ -n "${npm_execpath:-}" ]; then npm_dir=$(cd "$(dirname "$npm_execpath")/.." && pwd); fi
[ -f "$npm_dir/package.json" ] || npm_dir="$(npm root -g)/npm"
[ -f "$npm_dir/bin/npm-cli.js" ] || fail "npm not found (looked in $npm_dir)"

# The certificates the host trusts for the npm registry beyond the public roots: npm's cafile,
# NODE_EXTRA_CA_CERTS, and the local additions to the system store. Without them in the image,
# `npm ci` behind a TLS-inspecting proxy fails with SELF_SIGNED_CERT_IN_CHAIN.
context=$(mktemp -d /var/tmp/jeex-node-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
: >"$context/extra-ca.pem"
npm_cafile=$(npm config get cafile 2>/dev/null || true)
for f in "$npm_cafile" "${NODE_EXTRA_CA_CERTS:-}" /usr/local/share/ca-certificates/*.crt; do
  [ -n "$f" ] && [ "$f" != null ] && [ "$f" != undefined ] && [ -f "$f" ] || continue
  cat "$f" >>"$context/extra-ca.pem"
  echo >>"$context/extra-ca.pem"
done

node_hash=$( {
  "$docker" image inspect --format '{{.Id}}' "$base_image"
  sha256sum "$node_bin" "$context/extra-ca.pem" | cut -c1-64
  grep '"version"' "$npm_dir/package.json" | head -n 1
  sed -n '/^# ---- the Node 24 layer/,$p' "$0"
} | sha)
if [ "$(label_of "$node_image")" = "$node_hash" ]; then
  say "reusing $node_image"
  echo "$node_image"
  exit 0
fi

started=$(date +%s)
cp "$node_bin" "$context/node"
cp -r "$npm_dir" "$context/npm"
cat >"$context/Dockerfile" <<DOCKERFILE
FROM $base_image
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY extra-ca.pem /usr/local/share/ca-certificates/jeex-host-extra.pem
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/jeex-host-extra.pem
LABEL org.jeex.input-hash=$node_hash
CMD ["node"]
DOCKERFILE
DOCKER_BUILDKIT=1 "$docker" build --quiet --tag "$node_image" "$context" >/dev/null ||
  fail "building $node_image failed"
say "built $node_image in $(( $(date +%s) - started )) s"
echo "$node_image"
