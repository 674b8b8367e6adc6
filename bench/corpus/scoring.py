"""Judging what a recogniser heard against a take's truth, with mir_eval for every comparison.

Causal reading: the label (tempo, key) in force at time t is the last one reported at or
before t; before the first report, nothing is in force ("N", no tempo, key "X").

Per take, `score_take` returns the raw comparisons (so that figures can be pooled over takes);
`pool` turns a list of them into the figures printed and written to JSON.
"""

from __future__ import annotations

import warnings
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, Protocol

import mir_eval
import numpy as np

BAR_JUDGED_AT = 0.6          # the chord of a bar is judged 60 % into it
DOMINANT_SHARE = 0.6         # a bar's truth chord must cover >= 60 % of it
KEY_SETTLE_BARS = 4          # key judged from 4 bars after the start (of each key segment)
TEMPO_SETTLE_BARS = 2        # tempo judged from 2 bars after the first onset
TEMPO_TOLERANCE = 0.02       # +-2 %
STRUMMED_STYLES = {"strum", "blues"}


class HeardLike(Protocol):
    """What `hear_take` returns (read-only attributes, as on a frozen dataclass)."""

    @property
    def chords(self) -> list[tuple[float, str]]: ...
    @property
    def beats(self) -> list[float]: ...
    @property
    def tempos(self) -> list[tuple[float, float]]: ...
    @property
    def keys(self) -> list[tuple[float, str]]: ...
    @property
    def downbeats(self) -> list[float]: ...
    @property
    def cpu_seconds(self) -> float: ...


class Timeline:
    """Reports (time, value) read causally."""

    def __init__(self, reports: Sequence[tuple[float, Any]], before: Any) -> None:
        ordered = sorted(reports, key=lambda r: r[0])
        self.times = [float(t) for t, _ in ordered]
        self.values = [v for _, v in ordered]
        self.before = before

    def at(self, t: float) -> Any:
        i = bisect_right(self.times, t)
        return self.values[i - 1] if i else self.before

    def changes_between(self, start: float, end: float) -> list[tuple[float, Any]]:
        """(start, value in force) then every report in (start, end]."""
        inside = [(t, v) for t, v in zip(self.times, self.values, strict=True) if start < t <= end]
        return [(start, self.at(start))] + inside

    def pieces(self, start: float, end: float) -> list[tuple[float, float, Any]]:
        cuts = [start] + [t for t in self.times if start < t < end] + [end]
        return [(a, b, self.at(a)) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def mir_key(label: str) -> str:
    """'G:maj' → 'G major'; anything unreadable → 'X'."""
    try:
        tonic, mode = label.split(":")
        text = f"{tonic} {'major' if mode == 'maj' else 'minor' if mode == 'min' else mode}"
        mir_eval.key.validate_key(text)
        return text
    except (ValueError, AttributeError):
        return "X"


# --- chords per bar ---------------------------------------------------------------------
def bar_truth(truth: dict[str, Any], start: float, end: float) -> str | None:
    """The chord covering >= 60 % of the bar, or None (no single chord dominates)."""
    cover: dict[str, float] = {}
    for s, e, label in truth["chords"]:
        overlap = min(e, end) - max(s, start)
        if overlap > 0:
            cover[label] = cover.get(label, 0.0) + overlap
    label, length = max(cover.items(), key=lambda kv: kv[1])
    return label if length >= DOMINANT_SHARE * (end - start) else None


def bar_labels(truth: dict[str, Any], chords: Timeline) -> tuple[list[str], list[str]]:
    refs, ests = [], []
    for start, end in truth["bars"]:
        ref = bar_truth(truth, start, end)
        if ref is not None:
            refs.append(ref)
            ests.append(chords.at(start + BAR_JUDGED_AT * (end - start)))
    return refs, ests


def compare(kind: str, refs: list[str], ests: list[str]) -> list[float]:
    """mir_eval.chord.majmin / sevenths per pair: 1, 0, or -1 (reference outside the vocab)."""
    if not refs:
        return []
    function = {"majmin": mir_eval.chord.majmin, "sevenths": mir_eval.chord.sevenths}[kind]
    return [float(x) for x in function(refs, ests)]


# --- latency ----------------------------------------------------------------------------
def change_latency(truth: dict[str, Any], chords: Timeline, kind: str
                   ) -> list[dict[str, Any]]:
    """For each truth change to a chord in the vocabulary: seconds until the reported label
    matches and keeps matching until 60 % of the rest of its bar (clipped to the segment);
    never matched by then → the rest of the bar, `matched` False."""
    bars = truth["bars"]
    out: list[dict[str, Any]] = []
    first = True
    for start, end, label in truth["chords"]:
        if label == "N":
            continue
        in_vocab = compare(kind, [label], [label])[0] == 1.0
        is_first, first = first, False
        if not in_vocab:
            continue
        bar_end = next((e for s, e in bars if s - 1e-6 <= start < e), end)
        window_end = min(bar_end, end)
        deadline = start + BAR_JUDGED_AT * (window_end - start)
        steps = chords.changes_between(start, deadline)
        matches = compare(kind, [label] * len(steps), [v for _, v in steps])
        if matches[-1] != 1.0:
            latency, matched = window_end - start, False
        else:
            misses = [i for i, m in enumerate(matches) if m != 1.0]
            latency = steps[misses[-1] + 1][0] - start if misses else 0.0
            matched = True
        out.append({"time": start, "label": label, "latency": latency, "matched": matched,
                    "first": is_first})
    return out


# --- beats, tempo, key ------------------------------------------------------------------
def beat_f(truth: dict[str, Any], heard: HeardLike) -> float:
    """mir_eval.beat.f_measure (70 ms window) after mir_eval.beat.trim_beats (drops the
    first 5 s of both, the field's convention)."""
    ref = mir_eval.beat.trim_beats(np.asarray(truth["beats"], dtype=float))
    est = mir_eval.beat.trim_beats(np.asarray(sorted(heard.beats), dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(ref, est))


def tempo_right_seconds(truth: dict[str, Any], heard: HeardLike) -> tuple[float, float]:
    """(seconds with the tempo in force within +-2 % of the truth, seconds judged), from two
    bars after the first onset to the end of the last bar; each piece compared with
    mir_eval.tempo.detection(tol=0.02)."""
    bar_length = truth["beats_per_bar"] * 60.0 / truth["bpm"]
    start = truth["first_onset"] + TEMPO_SETTLE_BARS * bar_length
    end = truth["bars"][-1][1]
    reference = Timeline([(t, b) for t, b in truth["tempo_changes"]], truth["bpm"])
    reported = Timeline(heard.tempos, None)
    cuts = sorted({start, end} | {t for t in reference.times + reported.times
                                  if start < t < end})
    right = 0.0
    for a, b in zip(cuts, cuts[1:], strict=False):
        ref, est = float(reference.at(a)), reported.at(a)
        if est is None or est <= 0:
            continue
        _, hit, _ = mir_eval.tempo.detection(np.array([ref, ref]), 1.0,
                                             np.array([float(est), float(est)]),
                                             tol=TEMPO_TOLERANCE)
        right += (b - a) * hit
    return right, max(end - start, 0.0)


def key_segments(truth: dict[str, Any]) -> list[tuple[float, float, str]]:
    key = truth["key"]
    if isinstance(key, str):
        return [(0.0, truth["duration"], key)]
    return [(float(s), float(e), str(k)) for s, e, k in key]


def key_score_seconds(truth: dict[str, Any], heard: HeardLike) -> tuple[float, float]:
    """(sum of mir_eval.key.weighted_score × seconds, seconds judged): per truth key segment,
    from 4 bars after its start (or the first downbeat) to its end (or the last bar's end)."""
    reported = Timeline([(t, mir_key(k)) for t, k in heard.keys], "X")
    bar_length = truth["beats_per_bar"] * 60.0 / truth["bpm"]
    music_start, music_end = truth["bars"][0][0], truth["bars"][-1][1]
    total, judged = 0.0, 0.0
    for seg_start, seg_end, ref in key_segments(truth):
        start = max(seg_start, music_start) + KEY_SETTLE_BARS * bar_length
        end = min(seg_end, music_end)
        for a, b, est in reported.pieces(start, end):
            total += (b - a) * mir_eval.key.weighted_score(ref, est)
            judged += b - a
    return total, judged


# --- one take ---------------------------------------------------------------------------
def est_intervals(heard: HeardLike, duration: float) -> tuple[np.ndarray, list[str]]:
    timeline = Timeline(heard.chords, "N")
    pieces = timeline.pieces(0.0, duration)
    return np.array([[a, b] for a, b, _ in pieces]), [str(v) for _, _, v in pieces]


def score_take(truth: dict[str, Any], heard: HeardLike) -> dict[str, Any]:
    """Raw comparisons of one take (see `pool`)."""
    chords = Timeline(heard.chords, "N")
    refs, ests = bar_labels(truth, chords)
    chord_refs = [(r, e) for r, e in zip(refs, ests, strict=True) if r != "N"]
    n_refs = [(r, e) for r, e in zip(refs, ests, strict=True) if r == "N"]
    ref_iv = np.array([[s, e] for s, e, _ in truth["chords"]])
    ref_lab = [lab for _, _, lab in truth["chords"]]
    est_iv, est_lab = est_intervals(heard, truth["duration"])
    tempo_right, tempo_judged = tempo_right_seconds(truth, heard)
    key_total, key_judged = key_score_seconds(truth, heard)
    return {
        "name": truth["name"], "style": truth["style"], "split": truth["split"],
        "duration": truth["duration"], "bars": len(truth["bars"]),
        "bar_majmin": compare("majmin", [r for r, _ in chord_refs], [e for _, e in chord_refs]),
        "bar_sevenths": compare("sevenths", [r for r, _ in chord_refs],
                                [e for _, e in chord_refs]),
        "bar_errors": [[r, e] for r, e in chord_refs
                       if compare("majmin", [r], [e])[0] == 0.0],
        "no_chord_bars": compare("majmin", [r for r, _ in n_refs], [e for _, e in n_refs]),
        "timeline": {"ref_intervals": ref_iv.tolist(), "ref_labels": ref_lab,
                     "est_intervals": est_iv.tolist(), "est_labels": est_lab},
        "latency_majmin": change_latency(truth, chords, "majmin"),
        "latency_sevenths": change_latency(truth, chords, "sevenths"),
        "beat_f": beat_f(truth, heard) if truth.get("tempo_steady", truth["steady"]) else None,
        "tempo_right": tempo_right, "tempo_judged": tempo_judged,
        "key_total": key_total, "key_judged": key_judged,
        "cpu_seconds": heard.cpu_seconds,
    }


# --- pooling ----------------------------------------------------------------------------
def accuracy(comparisons: list[float]) -> float | None:
    """mir_eval.chord.weighted_accuracy with equal weights (-1 = excluded, as mir_eval does)."""
    values = np.asarray(comparisons, dtype=float)
    if not (values >= 0).any():
        return None
    return float(mir_eval.chord.weighted_accuracy(values, np.ones(values.size)))


def timeline_scores(takes: list[dict[str, Any]]) -> dict[str, float]:
    """mir_eval.chord.evaluate on all takes laid end to end (pooled, duration-weighted)."""
    offset = 0.0
    ref_iv, ref_lab, est_iv, est_lab = [], [], [], []
    for take in takes:
        line = take["timeline"]
        ref_iv += (np.asarray(line["ref_intervals"]) + offset).tolist()
        est_iv += (np.asarray(line["est_intervals"]) + offset).tolist()
        ref_lab += line["ref_labels"]
        est_lab += line["est_labels"]
        offset += take["duration"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = mir_eval.chord.evaluate(np.array(ref_iv), ref_lab, np.array(est_iv), est_lab)
    return {"majmin": float(scores["majmin"]), "sevenths": float(scores["sevenths"])}


def latency_summary(changes: list[dict[str, Any]]) -> dict[str, Any]:
    if not changes:
        return {"n": 0, "median": None, "p90": None, "never_matched": 0}
    values = np.array([c["latency"] for c in changes])
    return {"n": len(changes), "median": float(np.median(values)),
            "p90": float(np.percentile(values, 90)),
            "never_matched": sum(1 for c in changes if not c["matched"])}


def pool(takes: list[dict[str, Any]]) -> dict[str, Any]:
    def joined(key: str) -> list[Any]:
        return [x for t in takes for x in t[key]]

    later = {k: [c for c in joined(k) if not c["first"]]
             for k in ("latency_majmin", "latency_sevenths")}
    firsts = [c for t in takes if t["style"] in STRUMMED_STYLES
              for c in t["latency_majmin"] if c["first"]]
    beats = [t["beat_f"] for t in takes if t["beat_f"] is not None]
    tempo_judged = sum(t["tempo_judged"] for t in takes)
    key_judged = sum(t["key_judged"] for t in takes)
    duration = sum(t["duration"] for t in takes)
    return {
        "takes": len(takes), "bars": sum(t["bars"] for t in takes), "seconds": duration,
        "chord_bars": len(joined("bar_majmin")),
        "bar_majmin": accuracy(joined("bar_majmin")),
        "bar_sevenths": accuracy(joined("bar_sevenths")),
        "no_chord_bars": len(joined("no_chord_bars")),
        "no_chord_right": accuracy(joined("no_chord_bars")),
        "timeline": timeline_scores(takes),
        "latency_majmin": latency_summary(later["latency_majmin"]),
        "latency_sevenths": latency_summary(later["latency_sevenths"]),
        "latency_first_chord_strummed": latency_summary(firsts),
        "beat_f": float(np.mean(beats)) if beats else None, "beat_takes": len(beats),
        "tempo_within_2pct": tempo_right_share(takes, tempo_judged),
        "key_weighted": sum(t["key_total"] for t in takes) / key_judged if key_judged else None,
        "cpu_percent": 100.0 * sum(t["cpu_seconds"] for t in takes) / duration
        if duration else None,
    }


def tempo_right_share(takes: list[dict[str, Any]], judged: float) -> float | None:
    return sum(t["tempo_right"] for t in takes) / judged if judged else None
