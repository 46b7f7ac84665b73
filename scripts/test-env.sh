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

mlship_test_env_main() {
  mlship_test_env_apt || return 1
  mlship_test_env_dockerd || return 1
  mlship_test_env_base_image || return 1
  mlship_test_env_log "ready: Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null), MLSHIP_TEST_BASE_IMAGE=$MLSHIP_TEST_BASE_IMAGE"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Run directly (bash scripts/test-env.sh): set up, then print the exports to eval or paste.
  set -uo pipefail
  if mlship_test_env_main; then
    echo "export MLSHIP_TEST_BASE_IMAGE=$MLSHIP_TEST_BASE_IMAGE"
  else
    echo "test-env: setup failed" >&2
    false
  fi
else
  mlship_test_env_main || return 1
fi
