#!/usr/bin/env bash
# Regenerates docs/images/dashboard.png, the picture of the Grafana dashboard in docs/dashboard.md, from a
# real service and a real Prometheus under a short load (scripts/dashboard-screenshot.ts says how).
#   usage: scripts/dashboard-screenshot.sh [output.png, relative to the repository]   (npm run dashboard:screenshot)
# DASHBOARD_LOAD_SECONDS sets the load's length (100 by default). Not part of npm test: it takes about three minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Node the project pins (the `node` devDependency), also when this script is run without npm.
PATH="$PWD/node_modules/.bin:$PATH"

bash scripts/install-missing.sh chromium:chromium pngquant:pngquant prometheus:prometheus
npm run -s build
npm run -s build:test
exec node build/scripts/dashboard-screenshot.js "$@"
