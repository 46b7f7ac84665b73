# shellcheck shell=bash
# The registry the integration tests push to: Debian's docker-registry (distribution v2) with htpasswd auth on
# 127.0.0.1:5000. SOURCED by scripts/test-all.sh after scripts/test-env.sh, so it never exits and it exports
# MLSHIP_TEST_REGISTRY, MLSHIP_TEST_REGISTRY_USER and MLSHIP_TEST_REGISTRY_PASSWORD. Safe to source twice: a registry
# that already answers is reused. Needs root on a fresh Debian machine only to install packages.
#
#   source scripts/test-registry.sh
#
# The Docker engine treats 127.0.0.0/8 registries as insecure-allowed, so plain HTTP works for `docker push`.

mlship_test_registry_setup() {
  local addr="${MLSHIP_TEST_REGISTRY_ADDR:-127.0.0.1:5000}"
  local user="${MLSHIP_TEST_REGISTRY_USER:-mlship}"
  # A throwaway password for a registry that listens on loopback only and holds nothing but test images.
  local password="${MLSHIP_TEST_REGISTRY_PASSWORD:-mlship-test-password}"
  local state="${MLSHIP_TEST_REGISTRY_DIR:-${TMPDIR:-/tmp}/mlship-test-registry}"

  local missing=()
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "test-registry: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >&2 || return 1
  fi

  mkdir -p "$state/data" || return 1
  chmod 700 "$state"
  htpasswd -Bbn "$user" "$password" >"$state/htpasswd" 2>/dev/null || return 1
  cat >"$state/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: mlship-test-registry
    path: $state/htpasswd
EOF

  local url="http://$addr/v2/"
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)"
  if [ "$code" = "200" ]; then
    # A registry without auth: Debian's own docker-registry service, started by the package where an init system
    # runs. The auth tests need ours, so stop that one (its data stays where the package keeps it).
    echo "test-registry: a registry without auth answers on $addr (the docker-registry service?); stopping it" >&2
    systemctl stop docker-registry >/dev/null 2>&1 || service docker-registry stop >/dev/null 2>&1 || true
    local i
    for i in $(seq 1 50); do
      code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)"
      [ "$code" = "000" ] && break
      sleep 0.1
    done
    if [ "$code" != "000" ]; then
      echo "test-registry: cannot stop the registry without auth on $addr; stop it by hand and source this again" >&2
      return 1
    fi
  fi
  if [ "$code" = "000" ]; then
    echo "test-registry: starting docker-registry on $addr (data in $state/data, log in $state/registry.log)" >&2
    # setsid + nohup: the registry outlives the shell that sourced this script.
    setsid nohup docker-registry serve "$state/config.yml" >>"$state/registry.log" 2>&1 </dev/null &
    echo $! >"$state/registry.pid"
    local i
    for i in $(seq 1 100); do
      code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)"
      [ "$code" != "000" ] && break
      sleep 0.1
    done
    if [ "$code" = "000" ]; then
      echo "test-registry: docker-registry did not answer on $addr; its log:" >&2
      tail -20 "$state/registry.log" >&2
      return 1
    fi
  fi

  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -u "$user:$password" "$url" || true)"
  if [ "$code" != "200" ]; then
    echo "test-registry: the registry on $addr answers $code to $user's credentials (another registry with other credentials is running there?)." >&2
    echo "test-registry: stop it, or export MLSHIP_TEST_REGISTRY_USER/MLSHIP_TEST_REGISTRY_PASSWORD to match it." >&2
    return 1
  fi

  export MLSHIP_TEST_REGISTRY="$addr"
  export MLSHIP_TEST_REGISTRY_USER="$user"
  export MLSHIP_TEST_REGISTRY_PASSWORD="$password"
  echo "test-registry: registry ready at $addr (user $user)" >&2
}

mlship_test_registry_setup || {
  echo "test-registry: setup failed" >&2
  false
}
unset -f mlship_test_registry_setup
