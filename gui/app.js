// Performia live view. Plain JS, no build step. Read-only: it only listens to /ws.
"use strict";

(() => {
  const AGENTS = ["drums", "bass", "harmony", "melody"];
  const LEVELS = ["drums", "bass", "harmony", "melody", "input", "master"];
  const LEVEL_LABELS = { drums: "DRM", bass: "BAS", harmony: "HRM", melody: "MEL", input: "GTR", master: "MST" };
  const COLORS = {
    drums: "#ff7a6b", bass: "#4fb3ff", harmony: "#c19bff", melody: "#ffd84a", input: "#5ff2a0",
  };
  const DRUM_ROWS = ["kick", "snare", "hat", "openhat"];
  const NOTE_NAMES = ["C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B"];
  const QUALITY = {
    maj: "", min: "m", "7": "7", maj7: "maj7", min7: "m7", dim: "°", dim7: "°7", aug: "+",
    hdim7: "ø7", min7b5: "ø7", sus2: "sus2", sus4: "sus4", "5": "5", "6": "6", min6: "m6", "9": "9",
  };
  const QUALITY_WORDS = {
    maj: "major", min: "minor", "7": "dominant 7th", maj7: "major 7th", min7: "minor 7th",
    dim: "diminished", dim7: "diminished 7th", aug: "augmented", hdim7: "half-diminished",
    min7b5: "half-diminished", sus2: "suspended 2nd", sus4: "suspended 4th", "5": "power chord",
    "6": "major 6th", min6: "minor 6th", "9": "dominant 9th",
  };
  const NO_CHORD = "N";           // the recogniser hears no chord
  const FORM_CELLS = 16;          // bars heard drawn (CSS shows the last 4 to 12 of them)
  const STALE_AFTER_S = 1.5;      // the band stopped publishing
  const SILENT_SOCKET_MS = 2000;  // connected but nothing received: reconnect
  const ALARM_MS = 10000;         // a counter that rose this recently is shown in red
  const PATTERN_STEPS = 32;       // sixteenths of a pattern drawn (a longer one ends in "…")
  const PROGRESSION_CHORDS = 16;  // chords of the progression in force drawn
  const STEP_CLASS = { X: "s-accent", x: "s-ghost", ".": "s-rest" };
  const LANE_SHOWN = new Set(["muted", "source"]);   // agent state drawn apart, not as text

  const $ = (id) => document.getElementById(id);
  const el = {};
  for (const id of ["conn", "conn-text", "rate", "version", "barbeat", "bpm", "playing", "beats",
    "chord", "key", "band-chord", "band-key", "progression", "note", "cents", "hz", "needle",
    "mode", "pedal", "meters", "cpu-avg", "cpu-peak", "xruns", "late", "dropped", "lookahead",
    "answer", "synths", "overlay-title", "overlay-text", "heard-bpm", "heard-bpm-conf",
    "heard-beats", "heard-pulse", "chord-conf", "chord-conf-bar", "quality", "key-conf",
    "form-info", "next-chord", "next-conf", "form-bars", "ctl-applied", "ctl-settings",
    "ctl-progression", "live-line", "live-dir", "live-stats", "live-error", "live-error-where",
    "live-error-message", "live-error-count", "patterns"]) {
    el[id] = $(id);
  }
  const tuner = document.querySelector(".tuner");

  let last = null;             // the last message: {frame, age_s, state}
  let lastAt = 0;              // performance.now() when it arrived
  let clockOffset = null;      // state time - performance time, max-filtered
  let socket = null;
  let retryMs = 500;
  let nextRetryAt = 0;
  const received = { count: 0, since: performance.now() };
  const pitchTrail = [];       // {t, midi} of the input pitch, for the guitar lane
  const meters = {};           // name -> {fill, hold, box, peak, holdAt}
  const counters = {};         // name -> {value, roseAt}
  let lastBeatTime = null;     // the newest beat heard (state time), for the pulse
  const lanes = [...document.querySelectorAll(".lane")].map((node) => ({
    agent: node.dataset.agent, node, canvas: node.querySelector("canvas"),
    label: node.querySelector(".agent-state"), source: node.querySelector(".agent-source"),
    lo: 48, hi: 72,
  }));

  // ---------- text helpers (snapshot text only ever goes in as textContent) ----------
  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }
  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function setTitle(node, text) {
    if (node && node.title !== text) node.title = text;
  }
  function section(state, name) {
    const value = state[name];
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  }
  function baseName(path) {
    const text = String(path);
    const trimmed = text.replace(/[\\/]+$/, "");
    return trimmed.slice(Math.max(trimmed.lastIndexOf("/"), trimmed.lastIndexOf("\\")) + 1) || text;
  }
  function plural(count, word) {
    return `${count} ${word}${count === 1 ? "" : "s"}`;
  }
  function bpmText(bpm) {
    return Number.isInteger(bpm) ? bpm.toFixed(0) : bpm.toFixed(1);
  }
  function ago(seconds) {
    if (!(seconds >= 0)) return "";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    return `${Math.round(seconds / 3600)} h ago`;
  }
  function prettyRoot(root) {
    return root.charAt(0).toUpperCase() + root.slice(1).replace(/#/g, "♯").replace(/b/g, "♭");
  }
  function chordLabel(name) {
    if (!name) return "—";
    const [root, quality = "maj"] = String(name).split(":");
    return prettyRoot(root) + (quality in QUALITY ? QUALITY[quality] : quality);
  }
  function keyLabel(name) {
    if (!name) return "—";
    const [root, quality = "maj"] = String(name).split(":");
    const word = quality.startsWith("min") ? "minor" : quality.startsWith("maj") ? "major" : quality;
    return `${prettyRoot(root)} ${word}`;
  }
  function midiName(midi) {
    const m = Math.round(midi);
    return NOTE_NAMES[((m % 12) + 12) % 12] + (Math.floor(m / 12) - 1);
  }
  function percent(value) {
    return typeof value === "number" && Number.isFinite(value) ? `${Math.round(value * 100)}%` : "—";
  }
  function qualityWord(name) {
    if (!name) return "—";
    if (name === NO_CHORD) return "no chord";
    const quality = String(name).split(":")[1] || "maj";
    return QUALITY_WORDS[quality] || quality;
  }
  function hzToMidi(hz) { return 69 + 12 * Math.log2(hz / 440); }
  function num(value, digits = 0) {
    return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "—";
  }
  function dbScale(peak) {
    if (!(peak > 0.001)) return 0;
    return Math.min(1, Math.max(0, (20 * Math.log10(peak) + 60) / 60));
  }

  // ---------- connection ----------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws");
    socket = ws;
    ws.onopen = () => { retryMs = 500; };
    ws.onmessage = (event) => {
      if (socket !== ws) return;
      try {
        onMessage(JSON.parse(event.data));
      } catch (error) {
        console.error("bad frame", error);
      }
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      nextRetryAt = performance.now() + retryMs;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 4000);
    };
    ws.onerror = () => ws.close();
  }

  function watchdog() {
    const silent = performance.now() - lastAt > SILENT_SOCKET_MS;
    if (socket && socket.readyState === WebSocket.OPEN && silent && lastAt > 0) socket.close();
    showStatus();
  }

  function showStatus() {
    const now = performance.now();
    const online = socket && socket.readyState === WebSocket.OPEN && now - lastAt < SILENT_SOCKET_MS;
    const state = last && last.state;
    const age = last ? last.age_s : null;
    let status = "live";
    if (!online) status = "offline";
    else if (!state || !state.version || age === null || age > STALE_AFTER_S) status = "stale";
    document.body.classList.toggle("offline", status === "offline");
    document.body.classList.toggle("stale", status === "stale");
    el.conn.dataset.state = status;
    if (status === "offline") {
      const wait = Math.max(0, (nextRetryAt - now) / 1000);
      setText(el["conn-text"], "NO CONNECTION");
      setText(el["overlay-title"], "NO CONNECTION");
      setText(el["overlay-text"], socket ? "connecting to the GUI server…"
        : `GUI server unreachable — retrying in ${wait.toFixed(1)} s`);
    } else if (status === "stale") {
      const why = !state || !state.version ? "waiting for the band to start"
        : `no update from the band for ${num(age, 1)} s`;
      setText(el["conn-text"], "NO DATA");
      setText(el["overlay-title"], "NO DATA");
      setText(el["overlay-text"], why);
    } else {
      setText(el["conn-text"], "LIVE");
    }
  }

  // ---------- one frame of data ----------
  function onMessage(message) {
    const state = message.state;
    const perf = performance.now();
    last = message;
    lastAt = perf;
    received.count += 1;
    const sample = state.time - perf / 1000;
    if (clockOffset === null || sample > clockOffset || clockOffset - sample > 0.3) clockOffset = sample;
    setText(el.version, String(state.version));
    showTransport(state.transport || {});
    showHarmony(state.harmony || {}, state.transport || {});
    showHeard(state.heard || {}, state.transport || {}, state.time, (state.harmony || {}).heard_chord);
    showForm(state.form || {});
    showInput(state.input || {}, state.time);
    showPedal(state.pedal || {});
    const control = section(state, "control");
    const live = section(state, "live");
    const muted = mutedAgents(state.agents || {}, control);
    showAgents(state.agents || {}, live, muted);
    showControl(control, muted);
    showLive(live, state.time);
    showLevels(state.levels || {});
    showFigures(state);
    showStatus();
  }

  function showTransport(t) {
    const beat = Math.floor(t.beat || 1);
    setText(el.barbeat, `${t.bar ?? "–"}:${beat}`);
    const bpm = typeof t.bpm === "number" ? bpmText(t.bpm) : "—";
    setText(el.bpm, bpm);
    setText(el.playing, t.playing ? "PLAYING" : "STOPPED");
    el.playing.classList.toggle("on", !!t.playing);
    beatDots(el.beats, t.beats_per_bar, t.playing ? beat : null);
  }

  function beatDots(row, beatsPerBar, lit) {
    const count = Math.max(1, Math.min(16, beatsPerBar || 4));
    if (row.children.length !== count) {
      row.replaceChildren(...Array.from({ length: count }, (_, i) => {
        const dot = document.createElement("span");
        if (i === 0) dot.className = "downbeat";
        return dot;
      }));
    }
    [...row.children].forEach((dot, i) => dot.classList.toggle("on", lit !== null && i === lit - 1));
  }

  // ---------- what is heard: chord and its confidence, key, the guitarist's tempo and beat ----------
  function showHeard(h, t, time, lastHeard) {
    const chord = h.chord == null ? lastHeard : h.chord;   // an older snapshot: the context's
    const now = chord === NO_CHORD;
    el.chord.classList.toggle("nochord", now);
    setText(el.quality, qualityWord(chord));
    el.quality.classList.toggle("none", !chord || now);
    const conf = typeof h.confidence === "number" ? h.confidence : null;
    setText(el["chord-conf"], conf === null ? "—" : `${now ? "none " : ""}${percent(conf)}`);
    el["chord-conf-bar"].style.width = conf === null ? "0%" : `${Math.round(conf * 100)}%`;
    el["chord-conf-bar"].className = `confbar-fill${conf !== null && conf < 0.5 ? " low" : conf !== null && conf < 0.8 ? " mid" : ""}`;
    setText(el["key-conf"], typeof h.key_confidence === "number" ? percent(h.key_confidence) : "");
    const bpm = typeof h.bpm === "number" && h.bpm > 0 ? h.bpm : null;
    setText(el["heard-bpm"], bpm === null ? "—" : bpm.toFixed(bpm >= 100 ? 0 : 1));
    setText(el["heard-bpm-conf"], percent(h.bpm_confidence));
    const band = typeof t.bpm === "number" && t.bpm > 0 ? t.bpm : null;
    el["heard-bpm"].parentElement.classList.toggle("apart", bpm !== null && band !== null && Math.abs(bpm / band - 1) > 0.03);
    const beatTime = typeof h.beat_time === "number" ? h.beat_time : null;
    const period = 60 / (bpm || band || 120);
    const fresh = beatTime !== null && typeof time === "number" && time - beatTime < 2.5 * period;
    beatDots(el["heard-beats"], h.beats_per_bar || t.beats_per_bar, fresh && h.beat_in_bar ? h.beat_in_bar : null);
    if (beatTime !== null && beatTime !== lastBeatTime) {
      if (lastBeatTime !== null && fresh) {
        el["heard-pulse"].classList.remove("beat");
        void el["heard-pulse"].offsetWidth;          // restart the animation
        el["heard-pulse"].classList.add("beat");
      }
      lastBeatTime = beatTime;
    }
  }

  // ---------- the form: bars heard, the bar now, the bar predicted ----------
  function chordSpans(chords, guess) {
    const list = Array.isArray(chords) ? chords : [];
    return list.slice(0, 3).map((c) => {
      const span = document.createElement("span");
      span.className = `ch${list.length > 1 ? " two" : ""}${guess ? " guess" : ""}`;
      span.textContent = chordLabel(c && c.chord);
      return span;
    });
  }

  function cell(kind, bar, chords, extra) {
    const node = document.createElement("div");
    node.className = `cell ${kind}`;
    node.dataset.bar = String(bar);
    const no = document.createElement("span");
    no.className = "no";
    no.textContent = String(bar);
    node.append(no, ...chords);
    if (extra) node.append(...extra);
    return node;
  }

  function showForm(f) {
    const prediction = f.prediction || null;
    const next = f.next || null;
    const parts = [];
    if (typeof f.length === "number") {
      parts.push(`${f.length}-bar form`);
      const sections = String(f.sections || "").replace(/[^A-Z]/g, "");
      if (sections) parts.push(`<b>${sections.length > 8 ? "…" + sections.slice(-8) : sections}</b>`);
      if (typeof f.position === "number") parts.push(`bar ${f.position} of ${f.length}`);
      if (typeof f.strength === "number") parts.push(percent(f.strength));
    } else {
      parts.push("no repeat found yet");
    }
    const info = parts.join(" · ");
    if (el["form-info"].dataset.info !== info) {
      el["form-info"].dataset.info = info;
      el["form-info"].innerHTML = info;
    }
    setText(el["next-chord"], next ? chordLabel(next.chord) : "—");
    setText(el["next-conf"], next ? percent(next.confidence) : "—");
    const bars = Array.isArray(f.bars) ? f.bars.slice(-FORM_CELLS) : [];
    const current = Array.isArray(f.current) ? f.current : [];
    const signature = JSON.stringify([bars, f.bar, current, prediction, next]);
    if (el["form-bars"].dataset.signature === signature) return;
    el["form-bars"].dataset.signature = signature;
    const cells = bars.filter((b) => b.bar !== f.bar).map((b) => cell("heard", b.bar, chordSpans(b.chords)));
    if (typeof f.bar === "number") {
      const tag = document.createElement("span");
      tag.className = "tag-now";
      tag.textContent = "NOW";
      const heardNow = current.length ? chordSpans(current)
        : chordSpans(prediction && prediction.bar === f.bar ? prediction.chords : [], true);
      cells.push(cell("now", f.bar, heardNow, [tag]));
    }
    if (next) {
      const conf = document.createElement("span");
      conf.className = "tag-conf";
      conf.textContent = percent(next.confidence);
      const bar = document.createElement("span");
      bar.className = "meter-conf";
      bar.style.width = `${Math.round(Math.max(0, Math.min(1, next.confidence || 0)) * 100)}%`;
      cells.push(cell("next", next.bar, chordSpans(next.chords || [{ chord: next.chord }]), [conf, bar]));
    }
    if (!cells.length) {
      const empty = document.createElement("div");
      empty.className = "empty";
      empty.textContent = "no bars heard yet";
      cells.push(empty);
    }
    el["form-bars"].replaceChildren(...cells);
  }

  function showHarmony(h, t) {
    const chord = chordLabel(h.heard_chord);
    if (el.chord.textContent !== chord) { el.chord.textContent = chord; fitChord(); }
    setText(el.key, keyLabel(h.heard_key));
    setText(el["band-chord"], chordLabel(h.chord));
    setText(el["band-key"], keyLabel(h.key));
    const progression = Array.isArray(h.progression) ? h.progression : [];
    const signature = progression.join(" ");
    if (el.progression.dataset.signature !== signature) {
      el.progression.dataset.signature = signature;
      el.progression.replaceChildren(...progression.map((name) => {
        const span = document.createElement("span");
        span.textContent = chordLabel(name);
        return span;
      }));
    }
    let current = progression.length ? ((t.bar || 1) - 1) % progression.length : -1;
    if (current >= 0 && progression[current] !== h.chord) current = progression.indexOf(h.chord);
    [...el.progression.children].forEach((span, i) => span.classList.toggle("now", i === current));
  }

  // the chord heard is the largest text: shrink it only when a long name would not fit
  function fitChord() {
    const node = el.chord;
    node.style.fontSize = "";
    const room = node.parentElement.clientWidth;
    const width = node.scrollWidth;
    if (room > 0 && width > room) {
      const size = parseFloat(getComputedStyle(node).fontSize);
      node.style.fontSize = `${Math.floor((size * room * 0.97) / width)}px`;
    }
  }

  function showInput(input, time) {
    const hz = input.pitch_hz;
    const pitched = typeof hz === "number" && hz > 0;
    const cents = pitched && typeof input.cents === "number" ? input.cents : 0;
    setText(el.note, pitched ? (input.note ? prettyRoot(String(input.note)) : midiName(hzToMidi(hz))) : "—");
    setText(el.cents, pitched ? `${cents >= 0 ? "+" : "−"}${Math.abs(cents).toFixed(0)}¢` : "±0¢");
    setText(el.hz, pitched ? `${hz.toFixed(1)} Hz` : "— Hz");
    const clamped = Math.max(-50, Math.min(50, cents));
    el.needle.style.left = `${50 + clamped}%`;
    const cls = !pitched ? "" : Math.abs(cents) < 5 ? "in" : Math.abs(cents) < 15 ? "near" : "off";
    el.needle.className = `needle ${cls}`;
    tuner.classList.toggle("in", cls === "in");
    if (pitched) pitchTrail.push({ t: time, midi: hzToMidi(hz) });
    else if (pitchTrail.length && pitchTrail[pitchTrail.length - 1] !== null) pitchTrail.push(null);
    while (pitchTrail.length > 900) pitchTrail.shift();
  }

  function showPedal(p) {
    const mode = String(p.mode || "play").toLowerCase();
    el.mode.dataset.mode = mode;
    setText(el.mode, mode.toUpperCase());
    setText(el.pedal, p.down ? "PEDAL DOWN" : "PEDAL UP");
    el.pedal.classList.toggle("down", !!p.down);
  }

  function agentState(agents, name) {
    const info = agents[name] || {};
    return info.state && typeof info.state === "object" ? info.state : {};
  }

  // the agents muted: by their state, or by the control settings (either may be missing)
  function mutedAgents(agents, control) {
    const muted = new Set(control && Array.isArray(control.muted) ? control.muted.map(String) : []);
    for (const name of AGENTS) if (agentState(agents, name).muted === true) muted.add(name);
    return muted;
  }

  function showAgents(agents, live, muted) {
    const playing = live && live.playing && typeof live.playing === "object" ? live.playing : {};
    for (const lane of lanes) {
      if (lane.agent === "input") continue;
      const st = agentState(agents, lane.agent);
      const text = Object.entries(st).filter(([k]) => !LANE_SHOWN.has(k)).slice(0, 5)
        .map(([k, v]) => `${k}: ${typeof v === "number" ? +v.toFixed(2) : String(v).slice(0, 18)}`)
        .join(" · ");
      setText(lane.label, text);
      lane.node.classList.toggle("muted", muted.has(lane.agent));
      const source = st.source != null ? String(st.source)
        : playing[lane.agent] != null ? String(playing[lane.agent]) : null;
      const coded = source !== null && source !== "built-in";
      setText(lane.source, source === null ? "" : coded ? `▶ ${baseName(source)}` : "built-in");
      setTitle(lane.source, coded ? `live-coded: ${source}` : "");
      lane.source.classList.toggle("live", coded);
    }
  }

  // ---------- what live control changed: the settings in force and the patterns ----------
  function showControl(control, muted) {
    const c = control || {};
    const parts = [];
    if (typeof c.tempo === "number") parts.push(`${bpmText(c.tempo)} BPM`);
    if (c.key) parts.push(keyLabel(c.key));
    if (c.style) parts.push(String(c.style));
    setText(el["ctl-settings"], parts.length ? parts.join(" · ") : "—");
    let applied = "—";
    if (typeof c.applied === "number") {
      applied = `${c.applied} applied`;
      if (typeof c.waiting === "number" && c.waiting > 0) applied += ` · ${c.waiting} waiting`;
    }
    setText(el["ctl-applied"], applied);
    const progression = Array.isArray(c.progression) ? c.progression : [];
    const chords = progression.slice(0, PROGRESSION_CHORDS).map(chordLabel);
    if (progression.length > PROGRESSION_CHORDS) chords.push("…");
    setText(el["ctl-progression"], chords.join(" "));
    showPatterns(c, muted);
  }

  function showPatterns(c, muted) {
    const patterns = c.patterns && typeof c.patterns === "object" && !Array.isArray(c.patterns)
      ? c.patterns : null;
    const overrides = new Set(Array.isArray(c.overrides) ? c.overrides.map(String) : []);
    const signature = JSON.stringify([patterns, [...overrides], [...muted]]);
    if (el.patterns.dataset.signature === signature) return;
    el.patterns.dataset.signature = signature;
    const keys = patterns ? Object.keys(patterns) : [];
    if (!keys.length) {
      el.patterns.replaceChildren(make("div", "empty", patterns ? "no patterns" : "no control data"));
      return;
    }
    el.patterns.replaceChildren(...keys.map((key) => {
      const [agent, voice] = key.split("/");
      return patternRow(key, agent, voice || agent, String(patterns[key] ?? ""),
        overrides.has(key), muted.has(agent));
    }));
  }

  function patternRow(key, agent, voice, text, override, muted) {
    const row = make("div", `pat${override ? " override" : ""}${muted ? " muted" : ""}`);
    row.dataset.key = key;
    if (AGENTS.includes(agent)) row.dataset.agent = agent;
    const label = make("span", "pat-voice", voice);
    label.title = key;
    const steps = make("span", "pat-steps");
    steps.title = text;
    const chars = [...text.replace(/[\s|]/g, "")];
    steps.append(...chars.slice(0, PATTERN_STEPS).map((char, i) =>
      make("span", `${STEP_CLASS[char] || "s-bad"}${i > 0 && i % 4 === 0 ? " beat" : ""}`, char)));
    if (chars.length > PATTERN_STEPS) steps.append(make("span", "s-more", "…"));
    row.append(label, steps);
    if (override) row.append(make("span", "pat-tag", "SET"));
    return row;
  }

  // ---------- live coding: the folder watched, the last error ----------
  function showLive(live, time) {
    let state = "none";
    let dir = "—";
    let stats = "";
    if (live && live.enabled === true) {
      state = "on";
      dir = live.dir == null ? "—" : String(live.dir);
      const files = live.files && typeof live.files === "object" ? Object.keys(live.files).length : 0;
      const figures = [plural(files, "file")];
      if (typeof live.late_bars === "number" && live.late_bars > 0) figures.push(plural(live.late_bars, "late bar"));
      if (typeof live.restarts === "number" && live.restarts > 0) figures.push(plural(live.restarts, "restart"));
      stats = figures.join(" · ");
    } else if (live && live.enabled === false) {
      state = "off";
      dir = "off";
    }
    el["live-line"].dataset.state = state;
    setText(el["live-dir"], dir);
    setTitle(el["live-dir"], state === "on" ? dir : "");
    setText(el["live-stats"], stats);
    const error = state === "on" && live.last_error && typeof live.last_error === "object"
      ? live.last_error : null;
    el["live-error"].classList.toggle("on", error !== null);
    if (error === null) return;
    const file = error.file == null ? "?" : String(error.file);
    const line = typeof error.line === "number" ? error.line : null;
    setText(el["live-error-where"], `${baseName(file)}${line === null ? "" : `:${line}`}`);
    setTitle(el["live-error-where"], file);
    setText(el["live-error-message"], error.message == null ? "" : String(error.message));
    const count = typeof live.errors === "number" ? plural(live.errors, "error") : "";
    const when = typeof error.time === "number" && error.time > 0 && typeof time === "number"
      ? ago(time - error.time) : "";
    setText(el["live-error-count"], [count, when].filter(Boolean).join(" · "));
  }

  // ---------- meters ----------
  function buildMeters() {
    for (const name of LEVELS) {
      const box = document.createElement("div");
      box.className = `meter ${name}`;
      box.innerHTML = '<div class="track"><div class="fill"></div><div class="hold"></div></div>';
      const label = document.createElement("div");
      label.className = "name";
      label.textContent = LEVEL_LABELS[name];
      box.appendChild(label);
      el.meters.appendChild(box);
      meters[name] = {
        box, fill: box.querySelector(".fill"), hold: box.querySelector(".hold"),
        level: 0, peak: 0, holdAt: 0,
      };
    }
  }

  function showLevels(levels) {
    const now = performance.now();
    for (const name of LEVELS) {
      const m = meters[name];
      const level = dbScale(levels[name]);
      m.level = level;
      if (level >= m.peak) { m.peak = level; m.holdAt = now; }
      m.box.classList.toggle("clip", (levels[name] || 0) >= 0.99);
    }
  }

  function drawMeters(now, dt) {
    for (const name of LEVELS) {
      const m = meters[name];
      if (now - m.holdAt > 1500) m.peak = Math.max(m.level, m.peak - 0.6 * dt);
      const h = m.fill.parentElement.clientHeight;
      m.fill.style.setProperty("--track-h", `${h}px`);
      m.fill.style.height = `${(m.level * 100).toFixed(1)}%`;
      m.hold.style.bottom = `calc(${(m.peak * 100).toFixed(1)}% - 3px)`;
    }
  }

  // ---------- figures ----------
  function counter(name, value, node) {
    const now = performance.now();
    const c = counters[name] || (counters[name] = { value, roseAt: -Infinity });
    if (typeof value === "number" && value > c.value) c.roseAt = now;
    c.value = value;
    setText(node, num(value));
    node.classList.toggle("bad", now - c.roseAt < ALARM_MS);
    node.classList.toggle("warn", !(now - c.roseAt < ALARM_MS) && value > 0);
  }

  function showFigures(state) {
    const s = state.server || {};
    const ev = state.events || {};
    const lat = state.latency || {};
    setText(el["cpu-avg"], `${num(s.cpu_avg, 1)}%`);
    setText(el["cpu-peak"], `${num(s.cpu_peak, 1)}%`);
    el["cpu-peak"].classList.toggle("bad", s.cpu_peak >= 80);
    el["cpu-peak"].classList.toggle("warn", s.cpu_peak >= 50 && s.cpu_peak < 80);
    counter("xruns", s.xruns, el.xruns);
    counter("late", s.late, el.late);
    counter("dropped", ev.dropped, el.dropped);
    setText(el.lookahead, `${num(lat.lookahead_ms, 1)} ms`);
    setText(el.answer, lat.answer_ms == null ? "—" : `${num(lat.answer_ms, 0)} ms`);
    setText(el.synths, `${num(s.synths)} / ${num(s.ugens)}`);
  }

  // ---------- piano roll ----------
  function fitCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    return { w, h, dpr };
  }

  function timeWindow(transport) {
    const bpm = transport.bpm > 0 ? transport.bpm : 120;
    const barSeconds = (60 / bpm) * (transport.beats_per_bar || 4);
    const past = Math.max(2, Math.min(8, 2 * barSeconds));
    return { past, future: past * 0.2 };
  }

  function drawGrid(ctx, state, t0, span, w, h) {
    const tr = state.transport || {};
    if (!(tr.bpm > 0)) return;
    const spb = 60 / tr.bpm;
    const bpb = tr.beats_per_bar || 4;
    const beatInBar = (tr.beat || 1) - 1;
    const barStart = state.time - beatInBar * spb;
    const first = Math.floor((t0 - barStart) / spb);
    const last = Math.ceil((t0 + span - barStart) / spb);
    for (let k = first; k <= last; k += 1) {
      const x = ((barStart + k * spb - t0) / span) * w;
      const downbeat = ((k % bpb) + bpb) % bpb === 0;
      ctx.fillStyle = downbeat ? "rgba(255,255,255,0.22)" : "rgba(255,255,255,0.07)";
      ctx.fillRect(Math.round(x), 0, downbeat ? 2 : 1, h);
    }
  }

  function pitchRange(lane, notes) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const n of notes) { lo = Math.min(lo, n.midi); hi = Math.max(hi, n.midi); }
    if (!Number.isFinite(lo)) return;
    let targetLo = lo - 2;
    let targetHi = hi + 2;
    if (targetHi - targetLo < 14) { const mid = (lo + hi) / 2; targetLo = mid - 7; targetHi = mid + 7; }
    lane.lo = targetLo < lane.lo ? targetLo : lane.lo + (targetLo - lane.lo) * 0.05;
    lane.hi = targetHi > lane.hi ? targetHi : lane.hi + (targetHi - lane.hi) * 0.05;
  }

  function noteRow(lane, note, h) {
    if (lane.agent === "drums") {
      let row = DRUM_ROWS.indexOf(note.voice);
      if (row < 0) row = DRUM_ROWS.length;
      const rows = DRUM_ROWS.length + 1;
      const rh = h / rows;
      return { y: h - (row + 1) * rh + rh * 0.15, rh: rh * 0.7 };
    }
    const span = Math.max(1, lane.hi - lane.lo);
    const rh = Math.max(7 * (window.devicePixelRatio || 1), (h / span) * 0.85);
    return { y: h - ((note.midi - lane.lo + 0.5) / span) * h - rh / 2, rh };
  }

  function drawNotes(ctx, lane, notes, now, t0, span, w, h, dpr) {
    const color = COLORS[lane.agent];
    const visible = notes.filter((n) => n.t + (n.dur || 0) >= t0 && n.t <= t0 + span);
    if (lane.agent !== "drums") pitchRange(lane, visible);
    for (const n of visible) {
      const x = ((n.t - t0) / span) * w;
      const width = Math.max(10 * dpr, ((n.dur || 0) / span) * w);
      const { y, rh } = noteRow(lane, n, h);
      const sounding = n.t <= now && now <= n.t + Math.max(n.dur || 0, 0.12);
      ctx.globalAlpha = 0.35 + 0.65 * Math.max(0, Math.min(1, n.vel ?? 0.8));
      ctx.fillStyle = sounding ? "#ffffff" : color;
      ctx.fillRect(x, y, width, rh);
      if (sounding) { ctx.strokeStyle = color; ctx.lineWidth = 2 * dpr; ctx.strokeRect(x, y, width, rh); }
    }
    ctx.globalAlpha = 1;
    if (lane.agent === "drums") drawDrumRowNames(ctx, lane, w, h, dpr);
  }

  function drawDrumRowNames(ctx, lane, w, h, dpr) {
    ctx.fillStyle = "rgba(238,243,248,0.45)";
    ctx.font = `${Math.round(13 * dpr)}px "DejaVu Sans", sans-serif`;
    ctx.textAlign = "right";
    DRUM_ROWS.forEach((name, row) => {
      const { y, rh } = noteRow(lane, { voice: name }, h);
      ctx.fillText(name, w - 6 * dpr, y + rh * 0.8);
    });
    ctx.textAlign = "left";
  }

  function drawInputLane(ctx, lane, state, t0, span, w, h, dpr) {
    const onsets = (state.input && state.input.onsets) || [];
    ctx.fillStyle = COLORS.input;
    for (const t of onsets) {
      if (t < t0 || t > t0 + span) continue;
      ctx.fillRect(((t - t0) / span) * w - dpr, 0, 3 * dpr, h);
    }
    const points = pitchTrail.filter((p) => p === null || p.t >= t0);
    const midis = points.filter((p) => p !== null).map((p) => p.midi);
    if (!midis.length) return;
    const lo = Math.min(...midis) - 3;
    const hi = Math.max(Math.max(...midis) + 3, lo + 14);
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 3 * dpr;
    ctx.beginPath();
    let pen = false;
    for (const p of points) {
      if (p === null) { pen = false; continue; }
      const x = ((p.t - t0) / span) * w;
      const y = h - ((p.midi - lo) / (hi - lo)) * h;
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      pen = true;
    }
    ctx.stroke();
  }

  function drawLanes() {
    if (!last) return;
    const state = last.state;
    const fresh = !document.body.classList.contains("offline") && last.age_s !== null && last.age_s < STALE_AFTER_S;
    const now = fresh && clockOffset !== null ? clockOffset + performance.now() / 1000 : state.time;
    const { past, future } = timeWindow(state.transport || {});
    const t0 = now - past;
    const span = past + future;
    for (const lane of lanes) {
      const { w, h, dpr } = fitCanvas(lane.canvas);
      const ctx = lane.canvas.getContext("2d");
      ctx.clearRect(0, 0, w, h);
      if (!state.version) continue;            // nothing published yet: empty lanes
      drawGrid(ctx, state, t0, span, w, h);
      if (lane.agent === "input") drawInputLane(ctx, lane, state, t0, span, w, h, dpr);
      else drawNotes(ctx, lane, ((state.agents || {})[lane.agent] || {}).notes || [], now, t0, span, w, h, dpr);
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      ctx.fillRect(Math.round((past / span) * w) - dpr, 0, 2 * dpr, h);
    }
  }

  // ---------- animation ----------
  let lastFrame = performance.now();
  function animate(now) {
    const dt = Math.min(0.1, (now - lastFrame) / 1000);
    lastFrame = now;
    drawLanes();
    drawMeters(now, dt);
    if (now - received.since >= 1000) {
      setText(el.rate, String(Math.round((received.count * 1000) / (now - received.since))));
      received.count = 0;
      received.since = now;
    }
    requestAnimationFrame(animate);
  }

  window.addEventListener("resize", fitChord);
  buildMeters();
  showStatus();
  connect();
  setInterval(watchdog, 250);
  requestAnimationFrame(animate);
})();
