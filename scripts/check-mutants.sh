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
# The pinned Node 24 and the project's tools, as npm scripts have them, also when run by hand.
export PATH="$root/node_modules/.bin:$PATH"
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
  # A mutant changes src/ (or helm/) only, so the checkout's builds (dist/, build/: npm test has just made both) are
  # reused and only the files the patch changes are compiled again, one by one: the project is written
  # for per-file compilation (isolatedModules), and a mutant changes bodies, not types. A full tsc per
  # mutant took 12 s of the 15 s each one needed. A chart mutant changes helm/ only, which needs no build.
  # A patch anywhere else is refused.
  changed=$(sed -n 's#^+++ b/##p' "$patch")
  if [[ -z "$changed" ]] || grep -Eqv '^(src/.*\.ts|helm/.*)$' <<<"$changed"; then
    echo "BROKEN  $name: the patch must change .ts files under src/ or the chart under helm/, and only those"
    missed=$((missed + 1))
    continue
  fi
  changed=$(grep '^src/' <<<"$changed" || true)
  # shellcheck disable=SC2086 # one path per word
  (cd "$work" && git apply "$root/$patch" && cp -a "$root/dist" dist && cp -a "$root/build" build &&
    node -e '
      const ts = require("typescript");
      const fs = require("node:fs");
      const path = require("node:path");
      const { config } = ts.readConfigFile("tsconfig.build.json", ts.sys.readFile);
      const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ".");
      for (const file of process.argv.slice(1)) {
        const { outputText, diagnostics } = ts.transpileModule(fs.readFileSync(file, "utf8"), {
          // ESM, as package.json says: alone, a file under "nodenext" would be taken for CommonJS.
          compilerOptions: {
            ...options,
            module: ts.ModuleKind.ES2022,
            moduleResolution: ts.ModuleResolutionKind.Bundler,
            sourceMap: false,
          },
          fileName: file,
          reportDiagnostics: true,
        });
        if (diagnostics.length > 0) throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, " ")}`);
        const js = path.relative("src", file).replace(/\.ts$/, ".js");
        for (const dir of ["dist", "build/src"]) fs.writeFileSync(path.join(dir, js), outputText);
      }
    ' $changed) \
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
    [[ -n "${KEEP_MUTANT_DIRS:-}" ]] || rm -rf "$work"
  fi
done
echo "mutants caught: $caught, missed: $missed"
[ "$missed" -eq 0 ]
