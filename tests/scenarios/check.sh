#!/usr/bin/env bash
# Runs one scenario directory (tests/scenarios/NAME: inventory.yaml, scenario.yaml, expected.log, README) with
# `revive simulate --format log` and compares the event log (plus the exit status) with expected.log; a
# difference fails with a unified diff. With --record, writes expected.log instead (after a reviewed change:
# scripts/record-scenarios.sh). Usage: check.sh REVIVE_BINARY DIR [--record]
set -euo pipefail
revive=$1 dir=$2 mode=${3:-check}
options=()
if [[ -f $dir/options ]]; then read -r -a options <"$dir/options"; fi
actual=$(mktemp)
trap 'rm -f "$actual"' EXIT
status=0
"$revive" simulate --inventory "$dir/inventory.yaml" --scenario "$dir/scenario.yaml" --format log \
  "${options[@]}" >"$actual" 2>/dev/null || status=$?
if ((status == 2)); then
  echo "$dir: bad input (exit 2):" >&2
  "$revive" simulate --inventory "$dir/inventory.yaml" --scenario "$dir/scenario.yaml" --format log \
    "${options[@]}" >/dev/null || true
  exit 1
fi
echo "exit $status" >>"$actual"
if [[ $mode == --record ]]; then
  cp "$actual" "$dir/expected.log"
  echo "recorded $dir/expected.log"
  exit 0
fi
if ! diff -u --label "$dir/expected.log" --label "actual" "$dir/expected.log" "$actual"; then
  echo "$dir: the event log changed (above: - expected, + actual). If the change is intended, review it and" \
    "re-record with scripts/record-scenarios.sh $(basename "$dir")" >&2
  exit 1
fi
