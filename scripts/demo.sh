#!/usr/bin/env bash
# Installs what is needed, builds Revive and runs the demo of its main job on the example cloud kept in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
revive=build/release/revive
inventory=examples/demo-cloud.yaml
out=build/demo
mkdir -p "$out"
echo "== the example cloud ($inventory)"
"$revive" inventory validate "$inventory"
# The listing goes to a file and its first lines are printed from there: `revive … | head` would end revive with
# SIGPIPE (exit 141 under pipefail) whenever head exits before revive has written everything.
listing=$out/inventory-show.txt
"$revive" inventory show "$inventory" >"$listing"
head -n 40 "$listing"
echo "   … the whole listing: $listing ($(wc -l <"$listing") lines)"

scenario=examples/demo-scenario.yaml
echo
echo "== a simulated recovery: two hosts crash at once ($scenario)"
echo "   the real planner and executor against the deterministic simulated cloud, on a virtual clock;"
echo "   all four strategies on the same plan and step durations (summary of the revive run first)"
status=0
"$revive" simulate --inventory "$inventory" --scenario "$scenario" --compare --format table --out "$out" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then exit "$status"; fi
echo
echo "Gantt chart of the revive run: $out/timeline.svg (every step: $out/timeline.json)"
