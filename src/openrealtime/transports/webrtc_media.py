"""Audio between aiortc and a session: the client's microphone track in, a speaker track out.

aiortc decodes the client's Opus to 48 kHz frames and encodes what a track's ``recv`` returns;
the session speaks 24 kHz PCM16 (or G.711). Imported only when a WebRTC call arrives, since
aiortc and PyAV come with the optional ``webrtc`` extra.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Awaitable, Callable

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, AudioResampler

from ..audio.convert import Converter
from ..audio.spec import PCM24K, AudioSpec

RATE = 48000
FRAME_SAMPLES = 960  # 20 ms: the Opus frame browsers expect
WIRE = AudioSpec("pcm16", RATE)


class SpeakerTrack(MediaStreamTrack):
    """The session's output audio as 20 ms mono frames at 48 kHz, paced in real time for
    aiortc's Opus encoder; silence when nothing is queued.

    The session core follows this speaker on the clock (``session/playback.py``): audio plays
    as soon as it is queued, back to back, so the resampler must hold nothing back (``QQ``)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queued = bytearray()
        self._converter: Converter | None = None
        self._start: float | None = None
        self._pts = 0

    def play(self, audio: bytes, spec: AudioSpec) -> None:
        if self._converter is None or self._converter.src != spec:
            self._converter = Converter(spec, WIRE, quality="QQ")
        self._queued += self._converter.convert(audio)

    def clear(self) -> None:
        self._queued.clear()
        self._converter = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            # Pace on the frame count, not per frame, so that waiting never accumulates drift.
            delay = self._start + self._pts / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        size = FRAME_SAMPLES * 2
        chunk = bytes(self._queued[:size]).ljust(size, b"\x00")
        del self._queued[:size]
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(chunk)
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME_SAMPLES
        return frame


async def listen(track: MediaStreamTrack, deliver: Callable[[bytes], Awaitable[None]]) -> None:
    """Pass the client's audio on as 24 kHz mono PCM16, frame by frame, until the track ends."""
    resampler = AudioResampler(format="s16", layout="mono", rate=PCM24K.rate)
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        assert isinstance(frame, AudioFrame)
        for out in resampler.resample(frame):
            pcm = out.to_ndarray().tobytes()
            if pcm:
                await deliver(pcm)
