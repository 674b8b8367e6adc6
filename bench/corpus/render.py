"""Notes → MIDI (mido) → fluidsynth (sampled guitars) → 48 kHz mono float32 WAV."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
from bench.corpus.perform import Note
from scipy.io import wavfile

SAMPLE_RATE = 48000
PEAK_DBFS = -6.0
TICKS_PER_SECOND = 4000      # tempo 1 s per beat, 4000 ticks per beat: 0.25 ms resolution
PITCH_BEND_CENTS = 200.0     # fluidsynth's default bend range: ±2 semitones
MELODY_CHANNEL = 6           # strings on channels 0..5 (each string its own voice), melody on 6


class RenderError(RuntimeError):
    pass


def fluidsynth_path() -> str:
    path = shutil.which("fluidsynth")
    if path is None:
        raise RenderError("fluidsynth is not installed: run scripts/setup.sh --tests "
                          "(Debian package fluidsynth)")
    return path


def write_midi(notes: list[Note], program: int, path: Path, reverb: bool, end: float) -> None:
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_SECOND)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=0))
    events: list[tuple[int, int, mido.Message]] = []
    for channel in range(MELODY_CHANNEL + 1):
        events.append((0, 0, mido.Message("program_change", program=program, channel=channel)))
        events.append((0, 0, mido.Message("control_change", control=91,
                                          value=40 if reverb else 0, channel=channel)))
        events.append((0, 0, mido.Message("control_change", control=93, value=0,
                                          channel=channel)))
    for note in notes:
        channel = min(note.string, MELODY_CHANNEL)
        on = max(int(round(note.start * TICKS_PER_SECOND)), 0)
        off = max(int(round(note.end * TICKS_PER_SECOND)), on + 1)
        if note.cents:
            bend = int(np.clip(round(note.cents / PITCH_BEND_CENTS * 8192), -8192, 8191))
            events.append((on, 2, mido.Message("pitchwheel", pitch=bend, channel=channel)))
        events.append((on, 3, mido.Message("note_on", note=note.pitch, velocity=note.velocity,
                                           channel=channel)))
        events.append((off, 1, mido.Message("note_off", note=note.pitch, velocity=0,
                                            channel=channel)))
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(int(end * TICKS_PER_SECOND) - now, 0)))
    midi.save(str(path))


def fluidsynth_render(midi_path: Path, soundfont: str, reverb: bool) -> np.ndarray:
    """Stereo float32 frames at SAMPLE_RATE, chorus off, reverb only when asked."""
    if not Path(soundfont).is_file():
        raise RenderError(f"soundfont {soundfont} is missing: run scripts/setup.sh --tests")
    raw = midi_path.with_suffix(".raw")
    command = [fluidsynth_path(), "-ni", "-q", "-g", "0.8", "-r", str(SAMPLE_RATE),
               "-R", "1" if reverb else "0", "-C", "0",
               "-o", "synth.dynamic-sample-loading=1",
               "-T", "raw", "-O", "float", "-E", "little", "-F", str(raw), soundfont,
               str(midi_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not raw.is_file():
        raise RenderError(f"fluidsynth failed ({done.returncode}): {done.stderr.strip()[:500]}")
    frames = np.fromfile(raw, dtype="<f4").reshape(-1, 2)
    raw.unlink()
    return frames


def render(notes: list[Note], program: int, soundfont: str, reverb: bool,
           duration: float) -> np.ndarray:
    """Mono float32 samples of exactly `duration` seconds, peak at PEAK_DBFS."""
    with tempfile.TemporaryDirectory(prefix="performia-corpus-") as tmp:
        midi_path = Path(tmp) / "take.mid"
        write_midi(notes, program, midi_path, reverb, duration)
        stereo = fluidsynth_render(midi_path, soundfont, reverb)
    mono = stereo.mean(axis=1)
    length = int(round(duration * SAMPLE_RATE))
    mono = np.pad(mono, (0, max(length - mono.size, 0)))[:length]
    return normalise(mono, PEAK_DBFS)


def normalise(samples: np.ndarray, peak_dbfs: float) -> np.ndarray:
    peak = float(np.max(np.abs(samples))) or 1.0
    return (samples * (10 ** (peak_dbfs / 20) / peak)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray) -> None:
    wavfile.write(str(path), SAMPLE_RATE, samples.astype(np.float32))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    rate, data = wavfile.read(str(path))
    samples = np.asarray(data, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples, int(rate)
