"""The input audio buffer on the session's audio timeline (EVENTS.md §6.4): positions are
milliseconds of audio appended since the session started, whatever the format."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openrealtime.audio.spec import PCM16K, PCM24K, PCMA, PCMU, AudioSpec
from openrealtime.protocol.session_types import AudioFormat, AudioPCM, AudioPCMA, AudioPCMU
from openrealtime.session.input_audio import InputBuffer, spec_of


def tone(ms: int, value: int, spec: AudioSpec = PCM24K) -> bytes:
    """``ms`` of audio whose bytes are all ``value``, to tell stretches apart."""
    return bytes([value]) * (ms * spec.bytes_per_second // 1000)


@pytest.mark.parametrize(("fmt", "spec"), [
    (AudioPCM(), PCM24K), (AudioPCMU(), PCMU), (AudioPCMA(), PCMA),
])
def test_spec_of_the_ga_formats(fmt: AudioFormat, spec: AudioSpec) -> None:
    assert spec_of(fmt) == spec


def test_the_ga_specs() -> None:
    assert (PCM24K.encoding, PCM24K.rate, PCM24K.bytes_per_second) == ("pcm16", 24000, 48000)
    assert (PCMU.encoding, PCMU.rate, PCMU.bytes_per_second) == ("pcmu", 8000, 8000)
    assert (PCMA.encoding, PCMA.rate, PCMA.bytes_per_second) == ("pcma", 8000, 8000)


def test_a_new_buffer_is_empty_at_zero() -> None:
    buf = InputBuffer(PCM24K)
    assert len(buf) == 0
    assert (buf.start_ms, buf.end_ms, buf.duration_ms) == (0, 0, 0)
    assert buf.take_all() == b""
    assert buf.take_until(100) == b""


def test_appends_extend_the_timeline() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(tone(100, 1))
    assert (buf.start_ms, buf.end_ms, buf.duration_ms) == (0, 100, 100)
    buf.append(tone(50, 2))
    assert (buf.start_ms, buf.end_ms, buf.duration_ms) == (0, 150, 150)
    assert len(buf) == 150 * 48
    buf.append(b"")
    assert buf.end_ms == 150


def test_take_until_takes_the_front_and_moves_the_start() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(tone(100, 1) + tone(50, 2))
    assert buf.take_until(100) == tone(100, 1)
    assert (buf.start_ms, buf.end_ms, buf.duration_ms) == (100, 150, 50)
    assert buf.take_until(120) == tone(20, 2)
    assert (buf.start_ms, buf.end_ms) == (120, 150)
    # Positions stay on the timeline: a later append goes on from 150.
    buf.append(tone(10, 3))
    assert buf.end_ms == 160
    assert buf.take_until(160) == tone(30, 2) + tone(10, 3)
    assert (buf.start_ms, buf.end_ms, len(buf)) == (160, 160, 0)


def test_take_until_is_clamped_to_the_buffer() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(tone(100, 1))
    buf.take_until(40)
    assert buf.take_until(10) == b""  # before the start: nothing
    assert buf.start_ms == 40
    assert buf.take_until(1000) == tone(60, 1)  # past the end: all there is
    assert (buf.start_ms, buf.end_ms) == (100, 100)


def test_take_until_rounds_down_to_whole_samples() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(tone(10, 1))
    assert buf.take_until(0.03) == b""  # under one sample (1/24 ms)
    assert len(buf.take_until(0.1)) == 2 * 2  # 2.4 samples: two of them
    assert len(buf) % 2 == 0


def test_take_all() -> None:
    buf = InputBuffer(PCMU)
    buf.append(tone(30, 7, PCMU))
    assert buf.take_all() == tone(30, 7, PCMU)
    assert (buf.start_ms, buf.end_ms, len(buf)) == (30, 30, 0)


def test_drop_before_trims_the_front() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(tone(100, 1) + tone(100, 2))
    buf.drop_before(150)
    assert (buf.start_ms, buf.end_ms) == (150, 200)
    assert buf.take_all() == tone(50, 2)


def test_drop_before_is_clamped() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(tone(100, 1))
    buf.drop_before(-300)  # e.g. a turn start minus its padding, before the session start
    assert (buf.start_ms, len(buf)) == (0, 100 * 48)
    buf.drop_before(40)
    buf.drop_before(20)  # behind the start already: nothing
    assert buf.start_ms == 40
    buf.drop_before(5000)  # past the end: empty, and the start stays at the end
    assert (buf.start_ms, buf.end_ms, len(buf)) == (100, 100, 0)
    buf.append(tone(10, 2))
    assert (buf.start_ms, buf.end_ms) == (100, 110)


def test_clear_empties_but_keeps_the_timeline() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(tone(100, 1))
    buf.clear()
    assert (buf.start_ms, buf.end_ms, len(buf)) == (100, 100, 0)
    buf.append(tone(20, 2))
    assert (buf.start_ms, buf.end_ms) == (100, 120)
    assert buf.take_until(110) == tone(10, 2)


def test_set_spec_keeps_the_timeline_and_empties_the_buffer() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(tone(100, 1))
    buf.take_until(40)
    buf.set_spec(PCMU)
    assert buf.spec == PCMU
    assert (buf.start_ms, buf.end_ms, len(buf)) == (100, 100, 0)
    buf.append(tone(50, 2, PCMU))  # 8 bytes per ms now
    assert len(buf) == 400
    assert (buf.start_ms, buf.end_ms, buf.duration_ms) == (100, 150, 50)
    assert buf.take_until(120) == tone(20, 2, PCMU)
    assert buf.start_ms == 120
    buf.drop_before(140)
    assert buf.take_all() == tone(10, 2, PCMU)
    # And back to PCM: the timeline still goes on.
    buf.set_spec(PCMA)
    buf.append(tone(5, 3, PCMA))
    buf.set_spec(PCM24K)
    assert (buf.start_ms, buf.end_ms, len(buf)) == (155, 155, 0)
    buf.append(tone(10, 4))
    assert buf.end_ms == 165
    assert buf.take_until(160) == tone(5, 4)


def test_set_spec_to_the_same_spec_keeps_the_audio() -> None:
    buf = InputBuffer(PCMA)
    buf.append(tone(10, 1, PCMA))
    buf.set_spec(PCMA)
    assert len(buf) == 80
    assert buf.end_ms == 10


def test_set_spec_after_a_part_of_a_millisecond() -> None:
    buf = InputBuffer(PCM24K)
    buf.append(b"\x00" * 50)  # 25 samples: 1.0416... ms
    buf.set_spec(PCMU)
    assert buf.start_ms == pytest.approx(50 / 48)
    buf.append(tone(10, 1, PCMU))
    assert buf.end_ms == pytest.approx(50 / 48 + 10)


def test_positions_after_a_commit_of_a_part_of_a_millisecond() -> None:
    # A manual commit can leave the buffer starting between two whole milliseconds; whole-ms
    # positions from the VAD must still fall on the exact sample.
    buf = InputBuffer(PCM24K)
    buf.append(b"\x01" * 20)  # 10 samples
    buf.take_all()
    data = bytes(range(256)) * 40
    buf.append(data)
    buf.drop_before(1)  # byte 48 of the timeline, 28 into the buffer
    assert len(buf) == len(data) - 28
    assert buf.take_until(3) == data[28:144 - 20]
    assert buf.start_ms == 3


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([PCM24K, PCM16K, PCMU]),
       st.lists(st.tuples(st.sampled_from(["append", "take", "drop", "all"]),
                          st.integers(0, 3000)), max_size=30))
def test_the_buffer_is_always_the_right_stretch_of_the_stream(
    spec: AudioSpec, ops: list[tuple[str, int]],
) -> None:
    """Whatever the appends and whole-ms cuts, the buffer holds exactly the stream's bytes
    from its start to its end position."""
    buf = InputBuffer(spec)
    stream = bytearray()
    start = 0  # byte offset of the buffer's first byte in the stream
    for op, n in ops:
        if op == "append":
            chunk = bytes((len(stream) + i) % 251 for i in range(n * spec.sample_width))
            stream += chunk
            buf.append(chunk)
        elif op == "take":
            ms = n // 10  # whole milliseconds, as the VAD's frame positions are
            end = max(start, min(len(stream), spec.bytes_for_ms(ms)))
            assert buf.take_until(ms) == stream[start:end]
            start = end
        elif op == "drop":
            ms = n // 10
            start = max(start, min(len(stream), spec.bytes_for_ms(ms)))
            buf.drop_before(ms)
        else:
            assert buf.take_all() == stream[start:]
            start = len(stream)
        assert len(buf) == len(stream) - start
        assert buf.start_ms == pytest.approx(spec.duration_ms(start))
        assert buf.end_ms == pytest.approx(spec.duration_ms(len(stream)))
