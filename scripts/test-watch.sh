#!/usr/bin/env bash
# `npm run test:watch`: tsc recompiles src/ and test/ into build/ as files change, and Jest re-runs the
# unit specs from build/ (the suites run compiled, see jest.config.js). Both stop together.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build:test
npx tsc -p tsconfig.json --watch --preserveWatchOutput &
tsc_pid=$!
trap 'kill "$tsc_pid" 2>/dev/null || true' EXIT
# --watchAll, not --watch: build/ is git-ignored, so Jest's git-based change detection sees nothing there.
npm run -s jest -- --selectProjects "${1:-unit}" --watchAll
