"""WAV in and out for PCM16 mono: whole files (what clients upload, what tests and tools
write) and a reader for a WAV that arrives in pieces (a streamed speech reply)."""

from __future__ import annotations

import io
import struct
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


class WavStream:
    """A WAV file read as it arrives: the header, then its frames as PCM16 mono.

    ``rate`` is 0 until the data chunk begins. A streamed WAV cannot know its length, so a
    data size of 0 or 0xFFFFFFFF means "until the end of the body". Raises ``ValueError``.
    """

    MAX_HEADER = 1 << 20

    def __init__(self) -> None:
        self.rate = 0
        self._buf = b""
        self._fmt: tuple[int, int, int] | None = None  # (format tag, channels, bits)
        self._left: int | None = None  # data bytes still to come; None: to the end

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        if not self.rate:
            self._header()
            if not self.rate:
                return b""
        data, self._buf = self._buf, b""
        if self._left is not None:
            data, self._left = data[: self._left], max(0, self._left - len(data))
        assert self._fmt is not None
        tag, channels, bits = self._fmt
        frame = channels * bits // 8
        if cut := len(data) % frame:  # a partial frame waits for the rest
            self._buf, data = data[-cut:], data[:-cut]
            if self._left is not None:
                self._left += cut
        if tag == 1 and channels == 1:
            return data
        samples = np.frombuffer(data, dtype="<i2" if tag == 1 else "<f4").reshape(-1, channels)
        if tag == 3:
            samples = np.clip(samples * 32768.0, -32768, 32767)
        mono: bytes = np.rint(samples.mean(axis=1)).astype("<i2").tobytes()
        return mono

    def _header(self) -> None:
        buf = self._buf
        if len(buf) < 12:
            return
        if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
            raise ValueError(f"not a RIFF/WAVE header: {buf[:12]!r}")
        pos = 12
        while len(buf) >= pos + 8:
            kind, size = buf[pos:pos + 4], int.from_bytes(buf[pos + 4:pos + 8], "little")
            pos += 8
            if kind == b"data":
                if self._fmt is None:
                    raise ValueError("data chunk before fmt chunk")
                self._left = None if size in (0, 0xFFFFFFFF) else size
                self._buf = buf[pos:]
                return
            if len(buf) < pos + size + size % 2:
                break  # this chunk is not all here yet
            if kind == b"fmt ":
                self._fmt, self.rate = _fmt(buf[pos:pos + size])
            pos += size + size % 2  # chunks are padded to even sizes
        self.rate = 0  # known only once the data begins
        if len(buf) > self.MAX_HEADER:
            raise ValueError("no data chunk in the first MiB")


def _fmt(chunk: bytes) -> tuple[tuple[int, int, int], int]:
    if len(chunk) < 16:
        raise ValueError("short fmt chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", chunk[:16])
    if tag == 0xFFFE and len(chunk) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag follows
        tag = int.from_bytes(chunk[24:26], "little")
    if (tag, bits) not in ((1, 16), (3, 32)) or channels < 1 or rate < 1:
        raise ValueError(f"unsupported WAV format {tag}, {bits}-bit, {channels} channels, "
                         f"{rate} Hz (need 16-bit PCM or 32-bit float)")
    return (tag, channels, bits), rate
