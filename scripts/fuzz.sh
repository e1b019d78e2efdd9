#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz: clang, -fsanitize=fuzzer,address,undefined; fuzz/) and runs each
# for SECONDS (default 15) from its committed seed corpus (fuzz/corpus/TARGET, read only: new inputs go to a
# temporary directory). Fails on the first crash, leak, timeout (> 10 s for one input) or out-of-memory,
# leaving the reproducer as build/fuzz/fuzz/crash-* etc. with the command that replays it. The inputs of
# fuzz/regressions/TARGET (what the fuzzers once found) are replayed first.
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]   targets: inventory scenario config api heartbeat
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
targets=("$@")
((${#targets[@]} > 0)) || targets=(inventory scenario config api heartbeat)
binaries=()
for target in "${targets[@]}"; do binaries+=("${target}_fuzzer"); done
scripts/build.sh fuzz "${binaries[@]}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$work/$target"
  echo "== fuzz $target (${seconds} s)"
  # The inputs that once broke this parser (fuzz/regressions/TARGET), each run once first.
  if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
    (cd build/fuzz/fuzz && "./${target}_fuzzer" ../../../fuzz/regressions/"$target"/* 2>"$work/$target.log") ||
      { tail -n 60 "$work/$target.log" >&2; exit 1; }
  fi
  if ! (cd build/fuzz/fuzz && "./${target}_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 "$work/$target" "../../../fuzz/corpus/$target" 2>"$work/$target.log"); then
    tail -n 60 "$work/$target.log" >&2
    echo "fuzz $target: a finding (above); replay it with build/fuzz/fuzz/${target}_fuzzer build/fuzz/fuzz/<crash-...>" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$work/$target.log" || true
done
