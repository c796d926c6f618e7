"""The input audio buffer, placed on the session's audio timeline.

Every appended byte has a position on one timeline that starts with the session: the
milliseconds of audio appended so far (EVENTS.md §6.4), never wall-clock time. The buffer holds
the uncommitted stretch ``[start_ms, end_ms)`` of it; committing or trimming removes audio from
its front, clearing empties it. A change of input format keeps the timeline going.
"""

from __future__ import annotations

from ..audio.spec import PCM24K, PCMA, PCMU, AudioSpec
from ..protocol.session_types import AudioFormat, AudioPCM, AudioPCMA


def spec_of(fmt: AudioFormat) -> AudioSpec:
    if isinstance(fmt, AudioPCM):
        return PCM24K
    return PCMA if isinstance(fmt, AudioPCMA) else PCMU


class InputBuffer:
    __slots__ = ("spec", "_data", "_base_ms", "_base_bytes")

    def __init__(self, spec: AudioSpec) -> None:
        self.spec = spec
        self._data = bytearray()
        # Timeline position of byte 0 of the current format's stretch, and how many bytes of
        # this format came before the buffer's first byte.
        self._base_ms = 0.0
        self._base_bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def start_ms(self) -> float:
        return self._base_ms + self.spec.duration_ms(self._base_bytes)

    @property
    def end_ms(self) -> float:
        return self._base_ms + self.spec.duration_ms(self._base_bytes + len(self._data))

    @property
    def duration_ms(self) -> float:
        return self.spec.duration_ms(len(self._data))

    def append(self, chunk: bytes) -> None:
        self._data += chunk

    def take_until(self, ms: float) -> bytes:
        """Remove and return the audio from the start up to timeline position ``ms``."""
        n = self._offset(ms)
        out = bytes(self._data[:n])
        self._drop(n)
        return out

    def take_all(self) -> bytes:
        out = bytes(self._data)
        self._drop(len(out))
        return out

    def drop_before(self, ms: float) -> None:
        self._drop(self._offset(ms))

    def clear(self) -> None:
        self._drop(len(self._data))

    def set_spec(self, spec: AudioSpec) -> None:
        """Switch format; audio of the old format cannot be mixed in, so the buffer empties."""
        if spec == self.spec:
            return
        self._base_ms = self.end_ms
        self._base_bytes = 0
        self._data.clear()
        self.spec = spec

    def _offset(self, ms: float) -> int:
        # Counted from the start of this format's stretch, not from ``start_ms``: the float
        # difference of two positions can fall a hair short and lose a sample to rounding down.
        n = self.spec.bytes_for_ms(ms - self._base_ms) - self._base_bytes
        return max(0, min(n, len(self._data)))

    def _drop(self, n: int) -> None:
        if n:
            del self._data[:n]
            self._base_bytes += n
