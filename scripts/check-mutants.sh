#!/usr/bin/env bash
# Proves that the system tests can fail. Every patch in test/mutants/ is a deliberately broken
# server (a store that acknowledges too early, a shutdown that cuts requests...); each is applied to
# a copy of the working tree, built, and the spec it names (`# spec:`, under test/, optionally only
# the tests matching `# only:`) is run against it. That spec must FAIL. Exit 0 only when every mutant
# was caught.
#   Usage: npm run test:mutants [-- name-filter]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
filter=${1:-}
caught=0
missed=0
for patch in test/mutants/*.patch; do
  name=$(basename "$patch" .patch)
  [[ -n "$filter" && "$name" != *"$filter"* ]] && continue
  spec=$(sed -n 's/^# spec: //p' "$patch")
  read -r -a envs <<<"$(sed -n 's/^# env: //p' "$patch")"
  only=$(sed -n 's/^# only: //p' "$patch")
  select=()
  [[ -n "$only" ]] && select=(--test-name-pattern "$only")
  work=$(mktemp -d /tmp/items-mutant-XXXXXX)
  chmod 755 "$work" # the corrupt-files check runs the server as an unprivileged user
  # The working tree as it is (committed or not), without node_modules and build output.
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$work"
  ln -s "$root/node_modules" "$work/node_modules"
  (cd "$work" && git apply "$root/$patch" && npm run -s build && npm run -s build:test) >"$work/build.log" 2>&1 || {
    echo "BROKEN  $name: the patch does not apply or build (see $work/build.log)"
    missed=$((missed + 1))
    continue
  }
  started=$SECONDS
  if (cd "$work" && env "${envs[@]}" node --test --test-reporter=spec --test-concurrency=1 --test-timeout=600000 \
    "${select[@]}" "build/test/$spec.e2e-spec.js") >"$work/test.log" 2>&1; then
    echo "MISSED  $name: $spec passed against the broken server"
    missed=$((missed + 1))
  else
    # The first failing assertion's message, from the list of failures at the end of the report.
    first=$(awk '/failing tests:/ { f = 1 } f && /AssertionError|Error/ { print; getline; print; exit }' "$work/test.log" |
      tr -s ' \n' ' ' | cut -c1-220)
    failed=$(sed -n 's/^ℹ fail //p' "$work/test.log")
    total=$(sed -n 's/^ℹ tests //p' "$work/test.log")
    echo "caught  $name by $spec ($failed of $total tests failed, $((SECONDS - started)) s): $first"
    caught=$((caught + 1))
    rm -rf "$work"
  fi
done
echo "mutants caught: $caught, missed: $missed"
[ "$missed" -eq 0 ]
