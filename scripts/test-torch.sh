# shellcheck shell=bash
# PyTorch for the tests that make a model with it (the larger MLP of `mlship optimize`'s tests): Debian's python3-torch,
# without recommends (it brings no GPU stack). SOURCED by scripts/test-all.sh, so it never exits. Safe to source
# twice: it installs only what is missing, and needs root only for that. Measured on the 2-core test machine:
# 169 packages, 143 MB downloaded in 4 s, about 75 s to install.
#
#   source scripts/test-torch.sh
#
# Environment it reads: MLSHIP_TORCH_PYTHON (a python3 that imports torch; install nothing). Exports it.

mlship_test_torch_setup() {
  local python="${MLSHIP_TORCH_PYTHON:-/usr/bin/python3}"
  if "$python" -c 'import torch' >/dev/null 2>&1; then
    export MLSHIP_TORCH_PYTHON="$python"
    return 0
  fi
  if [ -n "${MLSHIP_TORCH_PYTHON:-}" ]; then
    echo "test-torch: MLSHIP_TORCH_PYTHON=$MLSHIP_TORCH_PYTHON cannot import torch" >&2
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "test-torch: /usr/bin/python3 cannot import torch; install python3-torch or set MLSHIP_TORCH_PYTHON" >&2
    return 1
  fi
  echo "test-torch: installing python3-torch" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || return 1
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    python3-torch >&2 || return 1
  /usr/bin/python3 -c 'import torch' || { echo "test-torch: python3-torch installed but torch does not import" >&2; return 1; }
  export MLSHIP_TORCH_PYTHON=/usr/bin/python3
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  mlship_test_torch_setup && echo "test-torch: $("$MLSHIP_TORCH_PYTHON" -c 'import torch; print(torch.__version__)')"
else
  mlship_test_torch_setup || return 1
fi
