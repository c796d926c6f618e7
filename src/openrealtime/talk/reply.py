"""The assistant's audio, written to a WAV file as it arrives.

The file is opened at the first audio, so a reply without audio leaves no empty file behind,
and written as it comes, so a long microphone session does not pile up in memory. ``wave``
fills in the header's sizes when the file is closed.
"""

from __future__ import annotations

import wave
from pathlib import Path

from ..audio.spec import PCM24K


class ReplyWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.nbytes = 0
        self._wav: wave.Wave_write | None = None
        self._carry = b""  # half a sample, when a delta ends mid-sample

    @property
    def seconds(self) -> float:
        return self.nbytes / PCM24K.bytes_per_second

    def write(self, pcm16: bytes) -> None:
        """Append 24 kHz PCM16 mono. Raises ``OSError`` when the file cannot be written."""
        data = self._carry + pcm16
        cut = len(data) % 2
        data, self._carry = data[:len(data) - cut], data[len(data) - cut:]
        if not data:
            return
        if self._wav is None:
            wav = wave.open(str(self.path), "wb")
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(PCM24K.rate)
            self._wav = wav
        self._wav.writeframes(data)
        self.nbytes += len(data)

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
