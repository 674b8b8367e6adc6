#!/usr/bin/env bash
# Install whatever is missing (test tools included), then run the whole test suite plus the
# type and style checks. Fails if pytest fails or collects nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
