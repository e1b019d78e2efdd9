#!/usr/bin/env bash
# Re-records the expected event logs of the scenario directories (tests/scenarios/NAME/expected.log) after a
# reviewed behaviour change: all of them, or the NAMEs given. Builds `revive` (release) first. Read the diff
# (git diff tests/scenarios) and judge every changed line before committing it.
# Usage: scripts/record-scenarios.sh [NAME...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release revive >/dev/null
names=("$@")
if ((${#names[@]} == 0)); then
  for dir in tests/scenarios/*/; do names+=("$(basename "$dir")"); done
fi
for name in "${names[@]}"; do
  [[ -f tests/scenarios/$name/scenario.yaml ]] || { echo "no scenario directory tests/scenarios/$name" >&2; exit 2; }
  tests/scenarios/check.sh build/release/revive "tests/scenarios/$name" --record
done
