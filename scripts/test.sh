#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: formatting, the release build's tests, the same tests
# built with AddressSanitizer + UndefinedBehaviorSanitizer, and the tests of the concurrent code (driver worker
# threads, the wall-clock loop, heartbeat receivers, the agent, the state store) built with ThreadSanitizer, and
# a bounded run of each parser's fuzzer (clang, libFuzzer).
# `.ci/run` calls this, then scripts/demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "== format check"
scripts/format.sh --check
echo "== release build + tests"
scripts/build.sh release
ctest --preset release -j "$(nproc)"
echo "== asan+ubsan build + tests"
scripts/build.sh asan
ctest --preset asan -j "$(nproc)"
echo "== fuzz: the parsers' libFuzzer targets, a bounded run each (docs/RELIABILITY.md, Fuzzing)"
scripts/fuzz.sh 10
echo "== tsan build + tests of the concurrent code"
scripts/build.sh tsan ipmi_test agent_test store_test api_test
ctest --preset tsan -j "$(nproc)" -L '^(ipmi|agent|store|api)$'
