"""Rehearsal takes: generation, truth, files, and the checks on a user's --input file."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from performia.listen.rehearsal import (
    TUNING,
    TakeError,
    TakeSpec,
    TakeTruth,
    ensure_take,
    generate_take,
    load_samples,
    main,
    read_take,
    voicing,
    write_take,
    write_wav_float,
)
from performia.theory import Chord

SPEC = TakeSpec(("G:maj", "E:min7", "C:maj7", "D:7"), "G:maj", 120, bars=4, seed=3)


@pytest.fixture(scope="module")
def take_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(write_take(tmp_path_factory.mktemp("takes") / "g120.wav", generate_take(SPEC)))


def test_truth_of_a_take() -> None:
    take = generate_take(SPEC)
    truth = take.truth
    assert truth.chords == ("G:maj", "E:min7", "C:maj7", "D:7")
    assert truth.bar_times == pytest.approx((0.5, 2.5, 4.5, 6.5))
    assert len(truth.onsets) == 4 * 6                     # "D.DU.UDU": six strums a bar
    assert truth.bpm == 120.0 and truth.key == "G:maj"
    assert take.samples.dtype == np.float32
    assert take.samples.size == pytest.approx(truth.duration * 48000, abs=2)
    assert float(np.max(np.abs(take.samples))) == pytest.approx(0.5, rel=1e-3)


def test_takes_are_reproducible_and_vary_with_the_seed() -> None:
    a = generate_take(SPEC).samples
    b = generate_take(SPEC).samples
    c = generate_take(TakeSpec(SPEC.progression, SPEC.key, SPEC.bpm, bars=4, seed=4)).samples
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sound_before_the_first_strum_is_only_hiss() -> None:
    take = generate_take(SPEC)
    first = int(take.truth.onsets[0] * 48000)
    assert float(np.max(np.abs(take.samples[: first - 100]))) < 0.01
    assert float(np.max(np.abs(take.samples[first: first + 4800]))) > 0.1


@pytest.mark.parametrize("quality", ["maj", "min", "7", "min7", "maj7"])
def test_voicings_hold_every_chord_tone_with_the_root_in_the_bass(quality: str) -> None:
    for root in range(12):
        chord = Chord(root, quality)
        frets = voicing(chord)
        notes = [TUNING[s] + f for s, f in enumerate(frets) if f is not None]
        assert len(notes) >= 4
        assert notes[0] % 12 == root
        classes = {n % 12 for n in notes}
        assert set(chord.pitch_classes) - {chord.fifth} <= classes <= set(chord.pitch_classes)
        fretted = [f for f in frets if f]
        assert not fretted or max(fretted) - min(fretted) <= 3


def test_spec_is_checked() -> None:
    with pytest.raises(ValueError):
        TakeSpec((), "C:maj", 100)
    with pytest.raises(ValueError):
        TakeSpec(("H:maj",), "C:maj", 100)
    with pytest.raises(ValueError):
        TakeSpec(("C:maj",), "C:maj", 100, pattern="D-U")
    with pytest.raises(ValueError):
        TakeSpec(("C:maj",), "C:maj", 500)


def test_written_take_reads_back(take_path: Path) -> None:
    info = read_take(take_path)
    assert (info.format, info.channels, info.sample_rate, info.sample_format) == \
        ("WAV", 1, 48000, "float32")
    samples, _ = load_samples(take_path)
    take = generate_take(SPEC)
    assert np.array_equal(samples[:, 0], take.samples)
    truth = TakeTruth.from_json(take_path.with_suffix(".json").read_text())
    assert truth == take.truth
    assert info.duration == pytest.approx(truth.duration, abs=1e-3)


def test_stereo_pcm16_wav_at_44100(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    data = (np.sin(np.linspace(0, 100, 44100))[:, None] * [0.5, -0.25] * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(data.tobytes())
    info = read_take(path)
    assert (info.channels, info.sample_rate, info.frames, info.sample_format) == \
        (2, 44100, 44100, "pcm16")
    samples, _ = load_samples(path)
    assert samples.shape == (44100, 2)
    assert np.allclose(samples[:, 0] * -0.5, samples[:, 1], atol=1e-4)


def _aiff(path: Path, channels: int, rate: int, bits: int, frames: int,
          kind: bytes = b"AIFF") -> Path:
    exponent = 16383 + 63 - (64 - len(bin(rate)) + 2)
    mantissa = rate << (64 - (len(bin(rate)) - 2))
    extended = struct.pack(">HQ", exponent, mantissa)
    comm = struct.pack(">hIh", channels, frames, bits) + extended
    if kind == b"AIFC":
        comm += b"NONE" + b"\x0enot compressed\x00"
    width = bits // 8
    body = np.arange(frames * channels, dtype=">i4").astype(f">i{width}").tobytes() \
        if width in (2, 4) else bytes(frames * channels * width)
    ssnd = struct.pack(">II", 0, 0) + body
    chunks = (b"COMM" + struct.pack(">I", len(comm)) + comm + b"SSND"
              + struct.pack(">I", len(ssnd)) + ssnd)
    path.write_bytes(b"FORM" + struct.pack(">I", 4 + len(chunks)) + kind + chunks)
    return path


@pytest.mark.parametrize(("kind", "bits", "rate"), [(b"AIFF", 16, 44100), (b"AIFF", 24, 48000),
                                                   (b"AIFC", 16, 96000)])
def test_aiff_files(tmp_path: Path, kind: bytes, bits: int, rate: int) -> None:
    path = _aiff(tmp_path / "take.aif", 2, rate, bits, 1000, kind)
    info = read_take(path)
    assert (info.format, info.channels, info.sample_rate, info.frames) == \
        ("AIFF", 2, rate, 1000)
    samples, _ = load_samples(path)
    assert samples.shape == (1000, 2)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TakeError, match="no such file"):
        read_take(tmp_path / "nothing.wav")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(TakeError, match="is a directory"):
        read_take(tmp_path)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"this is not audio at all, just text pretending" * 10)
    with pytest.raises(TakeError, match=r"garbage\.wav: not a WAV or AIFF file"):
        read_take(path)


def test_empty_and_truncated_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(TakeError, match="too short"):
        read_take(empty)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(TakeError, match="'fmt ' chunk"):
        read_take(truncated)


def test_wav_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    write_wav_float(path, np.zeros(0, dtype=np.float32), 48000)
    with pytest.raises(TakeError, match="no audio"):
        read_take(path)


def test_too_many_channels(tmp_path: Path) -> None:
    path = tmp_path / "quad.wav"
    write_wav_float(path, np.zeros((100, 4), dtype=np.float32), 48000)
    with pytest.raises(TakeError, match="4 channels; a take must be mono or stereo"):
        read_take(path)


def test_odd_sample_rate(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    write_wav_float(path, np.zeros(100, dtype=np.float32), 12345)
    with pytest.raises(TakeError, match="12345 Hz is not a common rate"):
        read_take(path)


def test_compressed_wav_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "adpcm.wav"
    fmt = struct.pack("<HHIIHH", 2, 1, 48000, 24000, 256, 4)     # MS ADPCM
    data = bytes(512)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + \
        struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(TakeError, match="unsupported WAV encoding"):
        read_take(path)


def test_ensure_take_generates_once_and_again_when_the_spec_changes(tmp_path: Path) -> None:
    path = tmp_path / "takes" / "rehearsal.wav"
    assert ensure_take(SPEC, path) == path and path.exists()
    first = path.stat().st_mtime_ns
    assert ensure_take(SPEC, path) == path and path.stat().st_mtime_ns == first
    other = TakeSpec(SPEC.progression, SPEC.key, 100, bars=2, seed=3)
    ensure_take(other, path)
    assert TakeTruth.from_json(path.with_suffix(".json").read_text()).bpm == 100


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.wav"
    assert main([str(out), "--progression", "A:min", "E:7", "--key", "A:min", "--bpm", "100",
                 "--bars", "2"]) == 0
    assert read_take(out).channels == 1
    assert "A:min E:7" in capsys.readouterr().out
