#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: formatting, the release build's tests, and the same tests
# built with AddressSanitizer + UndefinedBehaviorSanitizer. `.ci/run` calls this and nothing else.
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
