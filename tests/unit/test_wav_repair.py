"""Repairing the header of a WAV whose writer died (wav_repair), on synthetic files laid out
as supernova's DiskOut (libsndfile) writes them: RIFF, fmt (float), fact, PEAK, data."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from performia.listen.rehearsal import load_samples
from performia.server.recordings import RecordingJournal, repair_left_over
from performia.server.wav_repair import WavRepairError, inspect_wav, main, repair_wav
from tests.audio import read_wav


def diskout_header(channels: int, rate: int = 48000, *, extensible: bool = False,
                   tag: int = 3, bits: int = 32) -> bytes:
    """The header as DiskOut leaves it while recording: RIFF size 8, fact 0, data 0."""
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align,
                      align, bits)
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + guid_tail
    peak = struct.pack("<II", 1, 0) + b"\0" * (8 * channels)
    return (b"RIFF" + struct.pack("<I", 8) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"fact" + struct.pack("<II", 4, 0)
            + b"PEAK" + struct.pack("<I", len(peak)) + peak
            + b"data" + struct.pack("<I", 0))


def killed_recording(path: Path, frames: int, channels: int = 2, extra: bytes = b"",
                     **header: bool) -> np.ndarray:
    """A file as a killed server leaves it: the samples, then maybe part of a frame."""
    samples = np.random.default_rng(1).uniform(-1, 1, (frames, channels)).astype("<f4")
    path.write_bytes(diskout_header(channels, **header) + samples.tobytes() + extra)
    return samples


@pytest.mark.parametrize("channels", [1, 2, 15])
def test_a_killed_recording_reads_back_whole_after_the_repair(tmp_path: Path,
                                                              channels: int) -> None:
    path = tmp_path / "take.wav"
    samples = killed_recording(path, 4800, channels, extra=b"\x01\x02\x03")  # + 3 stray bytes
    assert inspect_wav(path).declared_bytes == 0
    result = repair_wav(path)
    assert result.changed and result.frames == 4800 and result.frames_before == 0
    assert result.seconds == pytest.approx(0.1)
    rate, audio = read_wav(path)                 # scipy: the standard reader
    assert rate == 48000 and audio.shape == (4800, channels)
    assert np.array_equal(audio.astype(np.float32), samples)
    state = inspect_wav(path)
    assert state.consistent and state.file_size == state.data_offset + 4800 * 4 * channels
    blob = path.read_bytes()
    assert struct.unpack_from("<I", blob, 4)[0] == len(blob) - 8
    fact = blob.index(b"fact")
    assert struct.unpack_from("<I", blob, fact + 8)[0] == 4800
    if channels <= 2:
        loaded, info = load_samples(path)        # the project's own reader
        assert info.frames == 4800 and np.array_equal(loaded, samples)


def test_an_extensible_header_is_repaired_from_its_block_alignment(tmp_path: Path) -> None:
    path = tmp_path / "ext.wav"
    samples = killed_recording(path, 1000, 4, extensible=True)
    assert repair_wav(path).frames == 1000
    rate, audio = read_wav(path)
    assert audio.shape == (1000, 4) and np.array_equal(audio.astype(np.float32), samples)


def test_pcm16_is_repaired_and_python_wave_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "pcm.wav"
    data = np.arange(-500, 500, dtype="<i2").reshape(-1, 2)
    path.write_bytes(diskout_header(2, tag=1, bits=16) + data.tobytes() + b"\x07")
    assert repair_wav(path).frames == 500
    with wave.open(str(path)) as reader:
        assert reader.getnframes() == 500 and reader.getnchannels() == 2
        assert reader.readframes(500) == data.tobytes()


def test_a_valid_file_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ok.wav"
    killed_recording(path, 300)
    repair_wav(path)
    before = path.read_bytes()
    result = repair_wav(path)
    assert not result.changed and result.frames == 300
    assert path.read_bytes() == before


def test_a_live_patch_leaves_the_partial_frame_a_writer_is_still_writing(tmp_path: Path) -> None:
    path = tmp_path / "live.wav"
    killed_recording(path, 200, extra=b"\x01\x02")
    size = path.stat().st_size
    result = repair_wav(path, final=False)
    assert result.frames == 200 and path.stat().st_size == size       # nothing cut
    with open(path, "ab") as more:                                     # the writer goes on
        more.write(b"\0" * (8 * 100 - 2))
    assert repair_wav(path, final=False).frames == 300
    assert read_wav(path)[1].shape == (300, 2)


def test_a_recording_killed_before_any_audio_is_an_empty_valid_wav(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(diskout_header(2))
    assert repair_wav(path).frames == 0
    assert inspect_wav(path).consistent


@pytest.mark.parametrize("content, reason", [
    (b"", "not a RIFF/WAVE"), (b"RIFF\0\0\0\0AIFF", "not a RIFF/WAVE"),
    (b"RIFF\0\0\0\0WAVEdata\0\0\0\0", "before any 'fmt '"),
    (b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0" + b"\0" * 16, "0 channels"),
])
def test_what_is_not_a_wav_is_refused_with_the_reason(tmp_path: Path, content: bytes,
                                                      reason: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(WavRepairError, match=reason):
        repair_wav(path)
    assert path.read_bytes() == content


def test_the_command_line_repairs_and_says_so(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "a.wav", tmp_path / "b.wav"
    killed_recording(good, 4800)
    bad.write_bytes(b"nothing")
    assert main([str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert f"repaired {good}: 4800 frames (0.10 s)" in out and "not a RIFF/WAVE" in err
    assert main([str(good)]) == 0
    assert "already valid" in capsys.readouterr().out


def test_a_journal_of_a_killed_run_is_repaired_at_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    recording = tmp_path / "killed.wav"
    # a process that journals a recording and dies without finishing it
    code = ("import sys; from pathlib import Path; "
            "from performia.server.recordings import RecordingJournal; "
            f"RecordingJournal(Path({str(state)!r})).add(Path({str(recording)!r}))")
    subprocess.run([sys.executable, "-c", code], check=True)
    killed_recording(recording, 9600)
    journals = list(state.glob("recordings-*.json"))
    assert len(journals) == 1 and json.loads(journals[0].read_text())["files"] == [
        str(recording.resolve())]
    # a journal of this (running) process is left alone
    mine = RecordingJournal(state)
    mine.add(tmp_path / "mine.wav")
    pid = json.loads(journals[0].read_text())["pid"]
    lines = repair_left_over(state)
    assert len(lines) == 1 and f"(pid {pid})" in lines[0] and str(recording.resolve()) in lines[0]
    assert "0.20 s of audio" in lines[0] and "killed" in lines[0]
    assert read_wav(recording)[1].shape == (9600, 2)
    assert [p.name for p in state.glob("recordings-*.json")] == [f"recordings-{os.getpid()}.json"]
    assert repair_left_over(state) == []          # said once
    mine.finish()                                 # mine.wav was never opened: nothing said
    assert list(state.glob("recordings-*.json")) == []


def test_finishing_repairs_only_what_the_server_could_not_close(tmp_path: Path) -> None:
    journal = RecordingJournal(tmp_path / "state")
    closed, open_ = tmp_path / "closed.wav", tmp_path / "open.wav"
    journal.add(closed)
    journal.add(open_)
    killed_recording(closed, 100)
    repair_wav(closed)                            # as /b_close leaves it
    killed_recording(open_, 100)
    journal.patch()                               # while recording: sizes patched
    assert inspect_wav(open_).declared_bytes == 800
    with open(open_, "ab") as more:
        more.write(b"\0" * 800)
    lines = journal.finish()
    assert len(lines) == 1 and str(open_.resolve()) in lines[0]
    assert read_wav(open_)[1].shape == (200, 2)
    assert not journal.path.exists()


def test_a_part_whose_server_died_is_reported_even_when_the_patch_got_there_first(
        tmp_path: Path) -> None:
    """The periodic patch can bring the header up to date between the server's death and
    the manager seeing it: the part is still reported, once, as repaired."""
    journal = RecordingJournal(tmp_path / "state")
    patched, stale = tmp_path / "patched.wav", tmp_path / "stale.wav"
    for path in (patched, stale):
        journal.add(path)
        killed_recording(path, 100)
    journal.patch()                               # the last patch before the death is seen
    with open(stale, "ab") as more:               # ... and this one was written after it
        more.write(b"\0" * 800)
    lines = journal.close_files([patched, stale], "its server died")
    assert len(lines) == 2
    assert lines[0].startswith(f"recording repaired: {patched.resolve()} (")
    assert "already brought up to date" in lines[0]
    assert lines[1].startswith(f"recording repaired: {stale.resolve()} (")
    assert "its header said" in lines[1]
    assert read_wav(stale)[1].shape == (200, 2)


def test_parts_left_when_the_server_died_for_good_are_reported_even_if_patched_first(
        tmp_path: Path) -> None:
    """With no restart allowed the parts are repaired at shutdown, not by `close_files`:
    each is still reported when the periodic patch brought its header up to date."""
    journal = RecordingJournal(tmp_path / "state")
    patched = tmp_path / "patched.wav"
    journal.add(patched)
    killed_recording(patched, 100)
    journal.patch()                               # the last patch got there before the death
    lines = journal.finish(server_died=True)
    assert len(lines) == 1
    assert lines[0].startswith(f"recording repaired: {patched.resolve()} (")
    assert "already brought up to date" in lines[0]
    assert read_wav(patched)[1].shape == (100, 2)
