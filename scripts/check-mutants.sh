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
  [[ -n "$only" ]] && select=(--testNamePattern "$only")
  work=$(mktemp -d /tmp/items-mutant-XXXXXX)
  chmod 755 "$work" # the corrupt-files check runs the server as an unprivileged user
  # The working tree as it is (committed or not), without node_modules and build output.
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$work"
  ln -s "$root/node_modules" "$work/node_modules"
  # The two compilations side by side: each mostly waits on one core.
  (cd "$work" && git apply "$root/$patch" && { npm run -s build & dist=$!; npm run -s build:test && wait "$dist"; }) \
    >"$work/build.log" 2>&1 || {
    echo "BROKEN  $name: the patch does not apply or build (see $work/build.log)"
    missed=$((missed + 1))
    continue
  }
  started=$SECONDS
  if (cd "$work" && env "${envs[@]}" node --experimental-vm-modules node_modules/jest/bin/jest.js --runInBand \
    --testTimeout=900000 --json --outputFile="$work/result.json" "${select[@]}" \
    --runTestsByPath "build/test/$spec.e2e-spec.js") >"$work/test.log" 2>&1; then
    echo "MISSED  $name: $spec passed against the broken server"
    missed=$((missed + 1))
  elif [[ ! -s "$work/result.json" ]]; then
    echo "BROKEN  $name: Jest did not run $spec (see $work/test.log)"
    missed=$((missed + 1))
  else
    # Which tests failed, and the first failure's message, from Jest's JSON report.
    summary=$(node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const failures = r.testResults.flatMap((f) => [f.message, ...f.assertionResults.flatMap((a) => a.failureMessages)]);
      const first = (failures.find((m) => m) ?? "").replace(/\u001b\[[0-9;]*m/g, "").replace(/\s+/g, " ").trim();
      const ran = r.numTotalTests - r.numPendingTests;
      // Caught means a test ran and failed; a suite that could not even load proves nothing.
      const verdict = r.numFailedTests > 0 && r.numRuntimeErrorTestSuites === 0 ? "caught" : "broken";
      console.log(`${verdict} ${r.numFailedTests} of ${ran} tests failed, ${r.numRuntimeErrorTestSuites} suites did not run: ${first.slice(0, 180)}`);
    ' "$work/result.json")
    if [[ "$summary" != caught* ]]; then
      echo "BROKEN  $name: $spec did not fail by a test (${summary#broken }; see $work/test.log)"
      missed=$((missed + 1))
      continue
    fi
    summary=${summary#caught }
    echo "caught  $name by $spec ($summary, $((SECONDS - started)) s)"
    caught=$((caught + 1))
    rm -rf "$work"
  fi
done
echo "mutants caught: $caught, missed: $missed"
[ "$missed" -eq 0 ]
