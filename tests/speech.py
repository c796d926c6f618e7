"""Real speech for tests: espeak-ng's voice, resampled, cut into the pieces a client sends.

espeak varies slightly from one run to the next, so speech is cached per process: the same
text gives the same bytes for the whole test session.
"""

from __future__ import annotations

import functools

import numpy as np
import soxr

from openrealtime.engines import espeak


def resample(pcm: bytes, src: int, dst: int) -> bytes:
    """PCM16 mono from ``src`` Hz to ``dst`` Hz, in one go."""
    if src == dst:
        return pcm
    out: bytes = soxr.resample(np.frombuffer(pcm, dtype="<i2"), src, dst).astype("<i2").tobytes()
    return out


@functools.lru_cache(maxsize=512)
def speech_pcm(text: str, voice: str = "en", rate: int = 24000, wpm: int = 175) -> bytes:
    """``text`` spoken by espeak, as PCM16 mono at ``rate``."""
    pcm, src = espeak.synthesize(text, voice, rate_wpm=wpm)
    return resample(pcm, src, rate)


def speech_pcm24k(text: str, voice: str = "en") -> bytes:
    """``text`` spoken by espeak, as PCM16 mono at 24 kHz (what Realtime clients send)."""
    return speech_pcm(text, voice)


def silence(ms: int, rate: int = 24000) -> bytes:
    return b"\0\0" * (rate * ms // 1000)


def chunks(pcm: bytes, ms: int = 20, rate: int = 24000) -> list[bytes]:
    """``pcm`` cut into ``ms`` pieces (the last one may be shorter)."""
    size = rate * ms // 1000 * 2
    return [pcm[i:i + size] for i in range(0, len(pcm), size)]


def seconds(pcm: bytes, rate: int = 24000) -> float:
    return len(pcm) / 2 / rate
