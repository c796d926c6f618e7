"""ITU-T G.711 mu-law and A-law, bit-exact with the classic Sun ``g711.c`` (and so with the
``audioop`` module Python shipped until 3.12).

Every codec here is a table lookup: a 256-entry table per law decodes, and a 65536-entry table
indexed by the ``uint16`` view of a PCM16 sample encodes. The tables are built once, lazily,
with the reference algorithm written out vectorised below, so a 20 ms packet costs a few
microseconds whatever its length.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

_U16 = npt.NDArray[np.uint16]
_I32 = npt.NDArray[np.int32]

# Segment end points of the reference encoder (``seg_uend`` / ``seg_aend`` in g711.c).
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def _all_samples() -> _I32:
    """Every int16 value, placed at the index of its ``uint16`` bit pattern."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _segment(magnitude: _I32, ends: _I32) -> _I32:
    # g711.c's search(): the first segment whose end is >= the value, 8 when none is.
    return np.searchsorted(ends, magnitude, side="left").astype(np.int32)


@functools.cache
def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = _all_samples() >> 2  # the reference works on 14-bit samples
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(mag, _SEG_UEND)
    code = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0xF)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


@functools.cache
def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype("<i2")


@functools.cache
def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = _all_samples() >> 3  # the reference works on 13-bit samples
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, _SEG_AEND)
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0xF)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


@functools.cache
def _alaw_decode_table() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype("<i2")


def _samples(pcm16: bytes) -> _U16:
    if len(pcm16) % 2:
        raise ValueError(f"PCM16 data must hold whole samples; got {len(pcm16)} bytes")
    return np.frombuffer(pcm16, dtype="<u2")


def ulaw_encode(pcm16: bytes) -> bytes:
    """PCM16 little-endian -> G.711 mu-law, one byte per sample."""
    return _ulaw_encode_table()[_samples(pcm16)].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """G.711 mu-law -> PCM16 little-endian."""
    return _ulaw_decode_table()[np.frombuffer(data, dtype=np.uint8)].tobytes()


def alaw_encode(pcm16: bytes) -> bytes:
    """PCM16 little-endian -> G.711 A-law, one byte per sample."""
    return _alaw_encode_table()[_samples(pcm16)].tobytes()


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law -> PCM16 little-endian."""
    return _alaw_decode_table()[np.frombuffer(data, dtype=np.uint8)].tobytes()
