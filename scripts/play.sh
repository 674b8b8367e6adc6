#!/usr/bin/env bash
# Install whatever is missing, then play: scripts/play.sh [performia options]
# (default: --realtime; e.g. scripts/play.sh --realtime --duration 10 --record out.wav)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
args=("$@")
((${#args[@]})) || args=(--realtime)
exec .venv/bin/python -m performia "${args[@]}"
