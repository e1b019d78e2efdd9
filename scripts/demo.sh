#!/usr/bin/env bash
# Installs what is needed, builds Revive and runs the demo of its main job on the example cloud kept in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
revive=build/release/revive
inventory=examples/demo-cloud.yaml
echo "== the example cloud ($inventory)"
"$revive" inventory validate "$inventory"
"$revive" inventory show "$inventory" | head -40
