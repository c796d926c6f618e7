"""What the in-process speech engines (piper, kokoro) share: finding the model files they load,
placing Realtime voice names on a model's voices, and running a blocking synthesis one piece at
a time on worker threads, so that audio streams out as it is made and a consumer that stops
listening stops the work.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from .loading import EngineLoadError, first_line
from .tts import TTSError

T = TypeVar("T")

REALTIME_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse",
                   "marin", "cedar")
"""The voice names a Realtime client may ask for, in OpenAI's order."""

MODEL_FLAG = "--tts-model"
ENGINE_ERROR = "tts_engine_error"
# Two workers: a new response need not wait behind a sentence still being made for one that
# was cancelled; more would only split the CPU that each model run already uses in full.
WORKERS = 2
_DONE = object()


def model_file(engine: str, model: str, *, download: str, what: str) -> Path:
    """The model's path, or a one-line EngineLoadError: these engines load local files only."""
    path = Path(model).expanduser()
    if not path.is_file():
        raise EngineLoadError(
            f"the {engine} engine: model file {model!r} not found ({engine} loads local files "
            f"only); download {what} from {download} and pass its path: {MODEL_FLAG} PATH")
    return path


def stable_index(voice: str, count: int) -> int:
    """One of ``count`` slots for a voice name, the same in every run: the Realtime voices take
    the slots in order, any other name the slot of its checksum (``hash`` varies per process)."""
    name = voice.strip().lower()
    key = REALTIME_VOICES.index(name) if name in REALTIME_VOICES else zlib.crc32(name.encode())
    return key % count


def pcm16(audio: npt.NDArray[Any]) -> bytes:
    """Float samples in [-1, 1] to PCM16 little-endian."""
    clipped = np.clip(np.asarray(audio, dtype=np.float32).ravel(), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


class ThreadedSynthesis:
    """Runs blocking synthesis on the engine's own worker threads, one piece per call."""

    def __init__(self, engine: str) -> None:
        self._engine = engine
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix=f"{engine}-tts")
        self._closed = False

    async def stream(self, make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """The items of ``make()``, each computed on a worker thread as it is asked for.

        Nothing runs ahead of the consumer: once it stops asking (or is cancelled), at most the
        piece already in progress completes and no further piece starts.
        """
        loop = asyncio.get_running_loop()
        items: Iterator[T] | None = None

        def step() -> object:
            nonlocal items
            if self._closed:
                raise TTSError(ENGINE_ERROR, f"the {self._engine} engine is closed.")
            try:
                if items is None:
                    items = make()
                return next(items, _DONE)
            except TTSError:
                raise
            except Exception as err:  # the libraries raise anything from numpy to onnxruntime
                raise TTSError(ENGINE_ERROR, f"{self._engine} synthesis failed: "
                                             f"{first_line(err)}") from err

        while True:
            try:
                item = await loop.run_in_executor(self._pool, step)
            except RuntimeError as err:  # the pool was shut down under us
                if not self._closed:
                    raise
                raise TTSError(ENGINE_ERROR, f"the {self._engine} engine is closed.") from err
            if item is _DONE:
                return
            yield cast(T, item)

    async def aclose(self) -> None:
        """Stop taking work and wait for the piece in progress, if any."""
        self._closed = True
        await asyncio.to_thread(self._pool.shutdown, wait=True)
