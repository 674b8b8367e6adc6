#!/usr/bin/env bash
# Install what Performia needs on Debian 12, idempotently:
#   Debian packages (SuperCollider's supernova and sclang, sc3-plugins, JACK 2, Chromium for
#   the GUI tests, rt-tests for the benchmarks), a .venv with the package, and the compiled SynthDefs.
# Usage: scripts/setup.sh [--tests]     (--tests also installs the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(supercollider-supernova supercollider-language supercollider-server
          sc3-plugins-server sc3-plugins-language jackd2 python3-venv python3-dev)
with_tests=0
[[ "${1:-}" == "--tests" ]] && with_tests=1
((with_tests)) && packages+=(chromium rt-tests   # rt-tests: cyclictest, the benchmarks' stall sentinel
    fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small)   # the listening corpus (docs/CORPUS.md)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
    elif command -v sudo >/dev/null && [[ -t 0 ]]; then sudo=(sudo)
    else
        echo "performia setup: these Debian packages are missing: ${missing[*]}" >&2
        echo "  install them as root:  apt-get install ${missing[*]}" >&2
        echo "  (or run this script as root, or as a user allowed to use sudo)" >&2
        exit 1
    fi
    echo "performia setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # jackd2 asks whether to enable real-time scheduling for the audio group: yes.
    echo "jackd2 jackd/tweak_rt_limits boolean true" | "${sudo[@]}" debconf-set-selections || true
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
extra=""
((with_tests)) && extra="[test]"
stamp=".venv/.performia-installed$extra"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".$extra"
    touch "$stamp"
fi

.venv/bin/python -m performia build
