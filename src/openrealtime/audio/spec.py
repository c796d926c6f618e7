"""What a stretch of audio bytes is: its encoding and sample rate (always mono)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["pcm16", "pcmu", "pcma"]


@dataclass(frozen=True, slots=True)
class AudioSpec:
    encoding: Encoding
    rate: int

    @property
    def sample_width(self) -> int:
        return 2 if self.encoding == "pcm16" else 1

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.sample_width

    def duration_ms(self, nbytes: int) -> float:
        return nbytes * 1000 / self.bytes_per_second

    def bytes_for_ms(self, ms: float) -> int:
        """Whole samples' worth of bytes in ``ms`` milliseconds (rounded down)."""
        return int(ms * self.rate / 1000) * self.sample_width


PCM24K = AudioSpec("pcm16", 24000)
PCM16K = AudioSpec("pcm16", 16000)
PCMU = AudioSpec("pcmu", 8000)
PCMA = AudioSpec("pcma", 8000)
