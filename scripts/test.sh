#!/usr/bin/env bash
# Runs every test: the lit suite (via ctest) and the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build
ctest --test-dir build --output-on-failure -V
