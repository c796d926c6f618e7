"""WAV in and out for PCM16 mono: what clients upload and what tests and tools write."""

from __future__ import annotations

import io
import wave

import numpy as np


def write_wav(pcm16: bytes, rate: int) -> bytes:
    """PCM16 mono little-endian at ``rate`` -> a complete WAV file."""
    if len(pcm16) % 2:
        raise ValueError(f"PCM16 data must hold whole samples; got {len(pcm16)} bytes")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16)
    return buf.getvalue()


def read_wav(data: bytes) -> tuple[bytes, int]:
    """A 16-bit PCM WAV file -> (PCM16 mono little-endian, sample rate).

    More than one channel is averaged down to mono. Anything else (8/24/32-bit, float,
    compressed, not a WAV) raises ``ValueError`` saying what was found.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file this server can read: {exc}") from exc
    if width != 2:
        raise ValueError(f"unsupported WAV sample width: {8 * width}-bit (need 16-bit PCM)")
    if channels < 1 or rate < 1:
        raise ValueError(f"malformed WAV header: {channels} channels at {rate} Hz")
    samples = np.frombuffer(frames, dtype="<i2")
    samples = samples[: len(samples) - len(samples) % channels]
    if channels > 1:
        # Average in int32 so that two loud channels cannot overflow before the division.
        mixed = samples.reshape(-1, channels).astype(np.int32).sum(axis=1) // channels
        return mixed.astype("<i2").tobytes(), rate
    return samples.tobytes(), rate
