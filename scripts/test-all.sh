#!/usr/bin/env bash
# The one command that sets up a fresh Debian machine (as root) and runs every test: type check, unit tests,
# component tests (real servers under real load), then the Docker, registry, browser and PyTorch-made-model
# integration tests against a real engine, registry, Chromium and torch, and a 3-minute soak of the container.
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

export CI="${CI:-true}"
export ONNXRUNTIME_NODE_INSTALL=skip

# Sourced, not run: they export the names of what they started (base image stand-in, registry, credentials).
for env_script in scripts/test-env.sh scripts/test-registry.sh scripts/test-browser.sh scripts/test-torch.sh; do
  # shellcheck source=/dev/null
  if [ -f "$env_script" ]; then source "$env_script"; fi
done

npm ci --no-audit --no-fund
# .npmrc's ignore-scripts=true skips prepare too; some tests run the built CLI (bin/run.js).
npm run build
npm run typecheck
npm run lint
npm test
npm run test:component
if [ -n "$(find src test -name '*.integration.test.ts' 2>/dev/null | head -1)" ]; then
  npm run test:integration
fi
# The 3-minute soak against the container (npm run bench:soak runs 30): fails when the memory outside V8's heap grows
# more than 5% in growth that goes on across windows, or RSS more than 15% (scripts/lib/soak-growth.ts).
npm run bench:soak -- --quick
