#!/usr/bin/env bash
# Start JACK (if none runs) and supernova with Performia's settings, in the background, for
# a musician who wants the server up before `python -m performia --realtime`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
cat <<'TXT'
Usage: scripts/start_supernova.sh [options]
       scripts/start_supernova.sh --stop [--port N]

Starts a JACK server if none is running (the ALSA card named in the config, e.g. the
Quantum 2626, when it exists, else JACK's dummy driver; real-time when permitted), then
supernova with the config's settings, waits for "Supernova ready", connects its ports to
system:playback / system:capture and prints how to stop it. Running it again while the
server answers does nothing. Settings come from config/performia.toml; options override.

Options:
  --config FILE   config file (default: config/performia.toml)
  --port N        supernova UDP port, -u (config [server] port, 57110)
  --threads N     audio threads for ParGroups, -T (config [server] threads). Note: -t would
                  be supernova's TCP port, not threads.
  --period N      JACK period in frames; supernova's hardware buffer -Z is set to it, and the
                  block size -z (64) must divide it (config [jack] period, 64)
  --device NAME   ALSA card name to look for (config [jack] device, "Quantum 2626")
  --dummy         use JACK's dummy driver even if the card exists
  --no-connect    do not connect supernova's ports to system:playback/capture (never
                  done on the dummy driver: supernova would add their output latency to
                  every bundle's deadline)
  --stop          stop the supernova (and the JACK) this script started
  -h, --help      this help

supernova flags used:
  -u PORT   UDP port                 -z 64    control block size (1.33 ms at 48 kHz)
  -Z N      hardware buffer = JACK period
  -S 48000  sample rate              -T N     audio threads (ParGroups run on them)
  -i 2 -o 2 input/output channels    -m 262144 real-time memory (kB)
  -n 4096   maximum nodes            -d 256   maximum SynthDefs
  -a 1024   audio buses              -C 0     sample clock: bundles land on the exact sample
  -R 0      no Zeroconf/Rendezvous   -H S:C   JACK server S, client name C
TXT
}

config="$root/config/performia.toml"; port=""; threads=""; period=""; device=""
dummy=0; connect=1; stop=0
while (($#)); do
    case "$1" in
        --config) config="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --period) period="$2"; shift 2 ;;
        --device) device="$2"; shift 2 ;;
        --dummy) dummy=1; shift ;;
        --no-connect) connect=0; shift ;;
        --stop) stop=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "start_supernova.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

py=python3; [[ -x "$root/.venv/bin/python" ]] && py="$root/.venv/bin/python"
conf() {  # conf SECTION KEY DEFAULT
    "$py" - "$config" "$1" "$2" "$3" <<'PY'
import sys, tomllib
path, section, key, default = sys.argv[1:]
try:
    with open(path, "rb") as f:
        value = tomllib.load(f).get(section, {}).get(key, default)
except FileNotFoundError:
    value = default
print(str(value).lower() if isinstance(value, bool) else value)
PY
}
port=${port:-$(conf server port 57110)}
threads=${threads:-$(conf server threads 2)}
period=${period:-$(conf jack period 64)}
device=${device:-$(conf jack device "Quantum 2626")}
rate=$(conf server sample_rate 48000)
block=$(conf server block_size 64)
jack_name=$(conf jack server_name "")
realtime=$(conf jack realtime true)
priority=$(conf jack priority 70)
fallback_period=$(conf jack fallback_period 256)
state="${XDG_RUNTIME_DIR:-/tmp}/performia-supernova-$port"
export JACK_NO_START_SERVER=1
[[ -n "$jack_name" ]] && export JACK_DEFAULT_SERVER="$jack_name"

answers() {  # does a server answer /status on $port?
    "$py" - "$port" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
s.sendto(b"/status\x00,\x00\x00\x00", ("127.0.0.1", int(sys.argv[1])))
try:
    data = s.recv(65536)
    sys.exit(0 if data.startswith(b"/status.reply") else 1)
except OSError:
    sys.exit(1)
PY
}

if ((stop)); then
    if answers; then "$py" -c "import socket;socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(b'/quit\x00\x00\x00,\x00\x00\x00',('127.0.0.1',$port))"; fi
    for f in "$state.supernova.pid" "$state.jackd.pid"; do
        [[ -f "$f" ]] || continue
        pid=$(cat "$f")
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill "$pid"
        rm -f "$f"
    done
    echo "stopped"
    exit 0
fi

if answers; then
    echo "a server already answers on port $port: nothing to start"
    echo "stop it with: $0 --stop --port $port"
    exit 0
fi

if [[ "$(jack_wait -c 2>/dev/null)" != "running" ]]; then
    card=""
    if ((!dummy)) && [[ -r /proc/asound/cards ]]; then
        card=$(grep -i -- "$device" /proc/asound/cards | head -n1 | awk '{print $1}' || true)
    fi
    rt=(-R -P "$priority")
    if [[ "$realtime" != "true" ]] || ! { [[ $(id -u) -eq 0 ]] || [[ $(ulimit -r) != 0 ]]; }; then
        rt=(-r)
        if ((period < fallback_period)); then period=$fallback_period; fi
        echo "WARNING: real-time scheduling not permitted: JACK runs without -R at $period frames" >&2
        echo "         (add your user to the 'audio' group with rtprio in /etc/security/limits.d)" >&2
    fi
    name=(); [[ -n "$jack_name" ]] && name=(-n "$jack_name")
    if [[ -n "$card" ]]; then driver=(-d alsa -d "hw:$card" -r "$rate" -p "$period" -n 2)
    else
        [[ $dummy -eq 0 ]] && echo "no audio interface named '$device': using JACK's dummy driver"
        driver=(-d dummy -r "$rate" -p "$period")
        connect=0   # the dummy's ports lead nowhere; connected, they would add output latency
    fi
    setsid jackd "${name[@]}" "${rt[@]}" "${driver[@]}" >"$state.jackd.log" 2>&1 < /dev/null &
    echo $! >"$state.jackd.pid"
    for _ in $(seq 50); do [[ "$(jack_wait -c 2>/dev/null)" == "running" ]] && break; sleep 0.1; done
    if [[ "$(jack_wait -c 2>/dev/null)" != "running" ]]; then
        echo "jackd did not start:" >&2; tail -5 "$state.jackd.log" >&2; exit 1
    fi
    echo "JACK started (pid $(cat "$state.jackd.pid")): jackd ${name[*]} ${rt[*]} ${driver[*]}"
else
    period=$(jack_bufsize 2>/dev/null | awk '/buffer size/{print $NF}' || echo "$period")
    echo "using the JACK server already running (period $period)"
fi

rm -f "/dev/shm/SuperColliderServer_$port"   # left by a crash: nothing answers on the port
cmd=(supernova -u "$port" -H "${jack_name:-default}:performia" -z "$block" -Z "$period"
     -S "$rate" -T "$threads" -i 2 -o 2 -m 262144 -n 4096 -d 256 -a 1024 -C 0 -R 0)
setsid "${cmd[@]}" >"$state.supernova.log" 2>&1 < /dev/null &
echo $! >"$state.supernova.pid"
for _ in $(seq 100); do grep -q "Supernova ready" "$state.supernova.log" && break; sleep 0.1; done
if ! grep -q "Supernova ready" "$state.supernova.log"; then
    echo "supernova did not start:" >&2; tail -5 "$state.supernova.log" >&2; exit 1
fi
echo "supernova ready (pid $(cat "$state.supernova.pid")): ${cmd[*]}"
if ((connect)); then
    for i in 1 2; do
        jack_connect "performia:output_$i" "system:playback_$i" 2>/dev/null || true
        jack_connect "system:capture_$i" "performia:input_$i" 2>/dev/null || true
    done
fi
echo "log: $state.supernova.log"
echo "play:  .venv/bin/python -m performia --realtime"
echo "stop:  $0 --stop --port $port"
