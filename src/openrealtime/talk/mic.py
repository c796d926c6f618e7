"""The microphone, through sounddevice (the ``mic`` extra), imported only when asked for.

The device is opened at its own default rate and converted here: PortAudio host APIs do not
all resample, and 24 kHz is a rate many devices refuse.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from ..audio.convert import Converter
from ..audio.spec import PCM24K, AudioSpec
from .source import SourceError

INSTALL = "pip install 'openrealtime[mic]'"


def _sounddevice() -> ModuleType:
    try:
        return importlib.import_module("sounddevice")
    except ImportError:
        raise SourceError(f"--mic needs the sounddevice package: {INSTALL}") from None
    except OSError as err:  # sounddevice is there, the PortAudio library it loads is not
        raise SourceError(f"--mic needs the PortAudio library ({err}); install it, e.g. "
                          "apt install libportaudio2") from None


class Microphone:
    """The default input device as 24 kHz PCM16 mono chunks of about ``chunk_ms``."""

    def __init__(self, *, chunk_ms: int = 50) -> None:
        self._sd = _sounddevice()
        try:
            device = self._sd.query_devices(kind="input")
        except Exception as err:  # PortAudioError, or ValueError when there is no such device
            raise SourceError(f"no microphone found: {_one_line(err)}") from None
        self.name = str(device["name"])
        self.rate = int(device["default_samplerate"])
        self.chunk_ms = chunk_ms

    async def pcm(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        converter = Converter(AudioSpec("pcm16", self.rate), PCM24K)

        def captured(data: Any, frames: int, time: Any, status: Any) -> None:
            # PortAudio's thread: hand a copy to the loop, whose buffer PortAudio reuses.
            loop.call_soon_threadsafe(queue.put_nowait, bytes(data))

        try:
            stream = self._sd.RawInputStream(
                samplerate=self.rate, channels=1, dtype="int16",
                blocksize=self.rate * self.chunk_ms // 1000, callback=captured)
        except Exception as err:  # PortAudioError: busy, unplugged, refused the format
            raise SourceError(f"cannot open the microphone {self.name!r}: "
                              f"{_one_line(err)}") from None
        with stream:
            while True:
                if pcm := converter.convert(await queue.get()):
                    yield pcm


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
