"""Audio to send: a WAV file as 24 kHz PCM16 mono chunks, and the pacing of a live talker.

Any WAV that ``WavStream`` reads (16-bit PCM or 32-bit float, any rate, any channels) is read
piece by piece and converted with the streaming ``Converter``, so a long file never sits in
memory whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from ..audio.convert import Converter
from ..audio.spec import PCM24K, AudioSpec
from ..audio.wav import WavStream

READ_BYTES = 64 * 1024


class SourceError(Exception):
    """The input cannot be used; the message is one line for the user."""


def chunk_bytes(ms: int) -> int:
    return PCM24K.bytes_for_ms(ms)


class WavFile:
    """A WAV file, opened and its header checked at once, read as 24 kHz PCM16 mono chunks."""

    def __init__(self, path: Path, *, chunk_ms: int = 50) -> None:
        self.path = path
        self.chunk_ms = chunk_ms
        self._wav = WavStream()
        try:
            self._file: BinaryIO = path.open("rb")
        except OSError as err:
            raise SourceError(f"cannot read {path}: {err.strerror or err}") from None
        self._first = b""  # audio read with the header
        try:
            while not self._wav.rate:
                data = self._file.read(READ_BYTES)
                if not data:
                    raise ValueError("no audio data in it")
                self._first += self._wav.feed(data)
        except ValueError as err:
            self._file.close()
            raise SourceError(f"{path} is not a WAV file this client can read: {err}") from None
        self.rate = self._wav.rate

    def close(self) -> None:
        self._file.close()

    def pcm(self) -> Iterator[bytes]:
        """The file's audio at 24 kHz mono, in chunks of ``chunk_ms`` (the last one shorter)."""
        size = chunk_bytes(self.chunk_ms)
        converter = Converter(AudioSpec("pcm16", self.rate), PCM24K)
        pending = converter.convert(self._first)
        try:
            while data := self._file.read(READ_BYTES):
                pending += converter.convert(self._wav.feed(data))
                while len(pending) >= size:
                    yield pending[:size]
                    pending = pending[size:]
        except ValueError as err:
            raise SourceError(f"{self.path}: {err}") from None
        finally:
            self.close()
        pending += converter.flush()
        for start in range(0, len(pending), size):
            yield pending[start:start + size]


def silence(ms: int, chunk_ms: int) -> Iterator[bytes]:
    """``ms`` of 24 kHz PCM16 silence in chunks of ``chunk_ms``."""
    left = chunk_bytes(ms)
    size = chunk_bytes(chunk_ms)
    while left > 0:
        yield bytes(min(size, left))
        left -= size


async def paced(chunks: Iterator[bytes], *, realtime: bool) -> AsyncIterator[bytes]:
    """The chunks, each when a live talker's would be ready (the end of its audio), or at once.

    Deadlines count from the start, so the pace does not drift with the time spent sending.
    """
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0
    for chunk in chunks:
        sent += len(chunk)
        if realtime:
            await asyncio.sleep(max(0.0, start + sent / PCM24K.bytes_per_second - loop.time()))
        else:
            await asyncio.sleep(0)  # let the receiver run between chunks
        yield chunk
