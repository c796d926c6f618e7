"""Streaming conversion (decode -> resample -> encode) and WAV in/out."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from openrealtime.audio.convert import Converter, from_float32, to_float32
from openrealtime.audio.g711 import alaw_encode, ulaw_decode, ulaw_encode
from openrealtime.audio.spec import PCM16K, PCM24K, PCMA, PCMU, AudioSpec
from openrealtime.audio.wav import read_wav, write_wav


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return from_float32(amplitude * np.sin(2 * np.pi * freq * t))


def noise(nbytes: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()


def run(conv: Converter, data: bytes, chunk: int | None = None) -> bytes:
    if chunk is None:
        return conv.convert(data) + conv.flush()
    parts = [conv.convert(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    return b"".join(parts) + conv.flush()


def dominant_hz(pcm16: bytes, rate: int) -> float:
    x = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def rms(pcm16: bytes) -> float:
    x = to_float32(pcm16).astype(np.float64)
    return float(np.sqrt(np.mean(x * x)))


# --- float helpers --------------------------------------------------------------------------


def test_float_helpers() -> None:
    pcm = np.array([0, 1, -1, 16384, -32768, 32767], dtype="<i2").tobytes()
    x = to_float32(pcm)
    assert x.dtype == np.float32
    assert x[4] == -1.0 and x[3] == 0.5 and x.max() < 1.0
    assert from_float32(x) == pcm
    assert from_float32([2.0, -2.0]) == np.array([32767, -32768], dtype="<i2").tobytes()


# --- no resampling --------------------------------------------------------------------------


def test_identity_returns_the_same_bytes() -> None:
    conv = Converter(PCM24K, PCM24K)
    data = tone(440, 24000, 0.02)
    assert conv.convert(data) is data
    assert conv.flush() == b""


def test_identity_keeps_a_half_sample_for_the_next_chunk() -> None:
    conv = Converter(PCM24K, PCM24K)
    assert conv.convert(b"\x01\x02\x03") == b"\x01\x02"
    assert conv.convert(b"\x04") == b"\x03\x04"
    assert conv.convert(b"\x05") == b""
    assert conv.flush() == b""  # a lone half sample at the end is dropped
    assert conv.convert(b"\x06\x07") == b"\x06\x07"


def test_same_rate_transcoding() -> None:
    codes = bytes(range(256))
    assert Converter(PCMU, AudioSpec("pcm16", 8000)).convert(codes) == ulaw_decode(codes)
    pcm = tone(1000, 8000, 0.1)
    assert Converter(AudioSpec("pcm16", 8000), PCMA).convert(pcm) == alaw_encode(pcm)
    assert Converter(PCMU, PCMA).convert(ulaw_encode(pcm)) == alaw_encode(ulaw_decode(
        ulaw_encode(pcm)))


@pytest.mark.parametrize("chunk", [1, 3, 160, 161, 999])
def test_chunking_does_not_change_output_without_resampling(chunk: int) -> None:
    data = noise(8001)
    for src, dst in ((AudioSpec("pcm16", 8000), PCMU), (PCMU, AudioSpec("pcm16", 8000))):
        assert run(Converter(src, dst), data, chunk) == run(Converter(src, dst), data)


# --- resampling -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst"),
    [(PCM24K, PCM16K), (PCMU, PCM16K), (PCM16K, PCM24K), (PCM24K, PCMU), (PCMA, PCM24K)],
)
def test_resampling_keeps_length_pitch_and_level(src: AudioSpec, dst: AudioSpec) -> None:
    pcm = tone(440, src.rate, 1.0)
    data = Converter(AudioSpec("pcm16", src.rate), src).convert(pcm)
    out = run(Converter(src, dst), data)
    decoded = Converter(dst, AudioSpec("pcm16", dst.rate)).convert(out)
    assert len(decoded) // 2 == dst.rate  # one second in, one second out
    assert abs(dominant_hz(decoded, dst.rate) - 440) < 2
    assert abs(rms(decoded) - rms(pcm)) < 0.01


def test_resampling_in_20ms_chunks_matches_one_piece() -> None:
    data = tone(300, 24000, 0.5, 0.3) + noise(24000)
    whole = np.frombuffer(run(Converter(PCM24K, PCM16K), data), dtype="<i2")
    for chunk in (960, 961, 7):
        parts = np.frombuffer(run(Converter(PCM24K, PCM16K), data, chunk), dtype="<i2")
        assert abs(len(parts) - len(whole)) <= 4
        n = min(len(parts), len(whole))
        assert np.abs(parts[:n].astype(np.int32) - whole[:n]).max() <= 4


def test_downsampling_removes_what_the_target_rate_cannot_hold() -> None:
    # 6 kHz at 24 kHz would alias to 2 kHz at 8 kHz; the HQ filter must remove it.
    out = run(Converter(PCM24K, AudioSpec("pcm16", 8000)), tone(6000, 24000, 0.5))
    assert len(out) == 8000  # half a second at 8 kHz
    assert rms(out[1000:-1000]) < 0.001  # away from the edges, where the tone switches on/off


def test_resampling_is_deterministic() -> None:
    # libsoxr dithers int16 output from a clock seed; the float path must not vary run to run.
    data = noise(24000, seed=1)
    assert run(Converter(PCM24K, PCM16K), data, 14) == run(Converter(PCM24K, PCM16K), data, 14)


def test_flush_starts_the_converter_afresh() -> None:
    data = tone(440, 24000, 0.1)
    conv = Converter(PCM24K, PCM16K)
    first = run(conv, data, 960)
    assert run(conv, data, 960) == first


# --- WAV ------------------------------------------------------------------------------------


def wav_bytes(frames: bytes, channels: int, width: int, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def test_wav_round_trip() -> None:
    pcm = tone(440, 16000, 0.25)
    data = write_wav(pcm, 16000)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert read_wav(data) == (pcm, 16000)
    assert read_wav(write_wav(b"", 8000)) == (b"", 8000)


def test_wav_stereo_is_averaged_to_mono() -> None:
    left = np.array([100, -100, 32767, -32768], dtype="<i2")
    right = np.array([300, -301, 32767, -32768], dtype="<i2")
    frames = np.stack([left, right], axis=1).tobytes()
    pcm, rate = read_wav(wav_bytes(frames, 2, 2, 44100))
    assert rate == 44100
    assert list(np.frombuffer(pcm, dtype="<i2")) == [200, -201, 32767, -32768]


def test_unsupported_wavs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="8-bit"):
        read_wav(wav_bytes(b"\x80" * 10, 1, 1, 8000))
    with pytest.raises(ValueError, match="24-bit"):
        read_wav(wav_bytes(b"\x00" * 30, 1, 3, 8000))
    with pytest.raises(ValueError, match="WAV"):
        read_wav(b"not a wav file at all")
    with pytest.raises(ValueError, match="WAV"):
        read_wav(b"")
    with pytest.raises(ValueError, match="whole samples"):
        write_wav(b"\x00", 16000)
