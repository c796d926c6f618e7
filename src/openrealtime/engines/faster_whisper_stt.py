"""Speech-to-text in this process with faster-whisper (a Whisper model on CTranslate2).

``model`` is a CTranslate2 Whisper model directory (what ``ct2-transformers-converter`` writes,
with the ``tokenizer.json`` it copies), or a model size (``small``) or hub id
(``Systran/faster-whisper-small``) that faster-whisper downloads once into the Hugging Face
cache and then uses from there, offline too.

Decoding runs on a pool of ``workers`` threads, one utterance each (CTranslate2 runs that many
model replicas side by side); further utterances wait for a free one. faster-whisper yields
segments lazily, about one 30 s window of audio at a time, and each becomes a delta as soon as
it is decoded. A consumer that stops listening stops the decoding before its next window.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..audio.convert import Converter, to_float32
from ..audio.spec import AudioSpec
from .loading import HUB_TIMEOUT, EngineLoadError, first_line, from_hub, require
from .stt import STTError, TranscriptChunk, TranscriptDelta, TranscriptDone, TranscriptionRequest

ENGINE = "faster-whisper"
SAMPLE_RATE = 16000
_FLAG = "--asr-model"
_LOCAL_EXAMPLE = "/path/to/faster-whisper-small"
Emit = Callable[[str], None]


class FasterWhisperTranscriber:
    name = "faster-whisper"
    sample_rate = SAMPLE_RATE

    def __init__(self, model: str, *, device: str = "auto", compute_type: str = "default",
                 workers: int = 1, cpu_threads: int = 0) -> None:
        """``cpu_threads`` per worker on CPU; 0 leaves it to CTranslate2 (``OMP_NUM_THREADS``,
        else 4). More threads than free cores slow it down many times over."""
        fw = require("faster_whisper", engine=ENGINE, extra="whisper")
        path = _model_dir(fw, model)
        try:
            self._model: Any = fw.WhisperModel(path, device=device, compute_type=compute_type,
                                               num_workers=workers, cpu_threads=cpu_threads)
        except Exception as err:  # CTranslate2 raises bare RuntimeError/ValueError
            raise EngineLoadError(
                f"the {ENGINE} engine could not load {path} on device {device!r} with compute "
                f"type {compute_type!r} ({first_line(err)})") from None
        self._languages = frozenset(self._model.supported_languages)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=ENGINE)
        self._running: set[threading.Event] = set()
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True
        for stop in self._running:
            stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def transcribe(self, request: TranscriptionRequest) -> AsyncIterator[TranscriptChunk]:
        if self._closed:
            raise STTError("stt_unavailable", f"the {ENGINE} engine is closed.")
        duration = len(request.audio) // 2 / request.sample_rate if request.sample_rate else 0.0
        language = self._language(request.language)
        audio = _samples(request)
        if not audio.size:
            yield TranscriptDone("", duration)
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        stop = threading.Event()

        def emit(text: str) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, text)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def finished(job: asyncio.Future[None]) -> None:
            if not job.cancelled():
                job.exception()  # read below; marked read here in case nobody waits any more
            queue.put_nowait(None)

        job = loop.run_in_executor(self._pool, self._decode, audio, language,
                                   request.prompt or None, stop, emit)
        # Completion is announced after every segment: both go through the loop in order.
        job.add_done_callback(finished)
        self._running.add(stop)
        said: list[str] = []
        try:
            while (text := await queue.get()) is not None:
                if not said:
                    text = text.lstrip()  # Whisper starts each segment with a space
                if text:
                    said.append(text)
                    yield TranscriptDelta(text)
            if job.cancelled() or self._closed:  # stopped half way by aclose
                raise STTError("stt_unavailable", f"the {ENGINE} engine was closed.")
            if (err := job.exception()) is not None:
                raise STTError("stt_engine_error",
                               f"{ENGINE} transcription failed: {first_line(err)}")
        finally:
            stop.set()  # the worker sees it before its next window and lets the next one in
            self._running.discard(stop)
        yield TranscriptDone("".join(said), duration)

    def _language(self, language: str | None) -> str | None:
        """The request's language as Whisper names it (``en-US`` -> ``en``); None detects."""
        if not language:
            return None
        code = language.strip().lower().replace("_", "-").split("-")[0]
        if code not in self._languages:
            raise STTError("stt_unsupported_language",
                           f"{ENGINE} does not know the language {language!r}; use an ISO-639-1 "
                           f"code such as 'en', or none to detect it.")
        return code

    def _decode(self, audio: npt.NDArray[np.float32], language: str | None,
                prompt: str | None, stop: threading.Event, emit: Emit) -> None:
        """On a worker thread: decode one utterance, emitting each segment's text."""
        if stop.is_set():  # cancelled while it waited for a worker
            return
        # The utterance has been cut by turn detection already: no VAD filter here.
        segments, _info = self._model.transcribe(audio, language=language, initial_prompt=prompt)
        try:
            while not stop.is_set():  # checked before each window is decoded
                segment = next(segments, None)
                if segment is None:
                    return
                emit(segment.text)
        finally:
            segments.close()


def _samples(request: TranscriptionRequest) -> npt.NDArray[np.float32]:
    pcm = request.audio[: len(request.audio) // 2 * 2]
    if request.sample_rate != SAMPLE_RATE:  # the runtime resamples; other callers may not
        conv = Converter(AudioSpec("pcm16", request.sample_rate), AudioSpec("pcm16", SAMPLE_RATE))
        pcm = conv.convert(pcm) + conv.flush()
    return to_float32(pcm)


def _model_dir(fw: Any, model: str) -> str:
    if not model.strip():
        raise EngineLoadError(f"the {ENGINE} engine needs a model: a size such as {_FLAG} small, "
                              f"or a model directory: {_FLAG} {_LOCAL_EXAMPLE}")
    path = Path(model).expanduser()
    if path.is_dir() or _looks_local(model):
        return _checked(path, model)
    if "/" not in model and model not in fw.available_models():
        raise EngineLoadError(
            f"the {ENGINE} engine: {model!r} is not a model directory, a model size "
            f"({', '.join(fw.available_models())}) or a hub id such as "
            f"Systran/faster-whisper-small; to use a model on disk, pass its path: "
            f"{_FLAG} {_LOCAL_EXAMPLE}")
    return _checked(Path(_download(fw, model)), model)


def _looks_local(model: str) -> bool:
    """Whether ``model`` names a place on disk rather than the hub, even a missing one."""
    first = Path(model).expanduser().parts[0]
    return model.startswith(("/", ".", "~")) or Path(first).exists()


def _checked(path: Path, model: str) -> str:
    """``path`` if it holds what faster-whisper needs to run without the hub."""
    if not path.is_dir():
        raise EngineLoadError(
            f"the {ENGINE} engine: no model directory at {model}; pass a CTranslate2 Whisper "
            f"model directory or a model size such as 'small' with {_FLAG}")
    missing = [name for name in ("model.bin", "tokenizer.json") if not (path / name).is_file()]
    if not any((path / name).is_file() for name in ("vocabulary.json", "vocabulary.txt")):
        missing.append("vocabulary.json")
    if missing:
        # Without tokenizer.json faster-whisper would fetch one from the hub at every start.
        raise EngineLoadError(
            f"the {ENGINE} engine: {path} is not a CTranslate2 Whisper model directory (no "
            f"{', '.join(missing)}); convert one with ct2-transformers-converter --model "
            f"openai/whisper-small --output_dir DIR --copy_files tokenizer.json "
            f"preprocessor_config.json")
    return str(path)


def _download(fw: Any, model: str) -> str:
    hub = require("huggingface_hub", engine=ENGINE, extra="whisper")

    def cached() -> str | None:
        path: str = fw.download_model(model, local_files_only=True)
        return path if (Path(path) / "model.bin").is_file() else None

    return from_hub(ENGINE, model, cached=cached,
                    probe=lambda: hub.get_session().head(hub.constants.ENDPOINT,
                                                         timeout=HUB_TIMEOUT),
                    download=lambda: str(fw.download_model(model)), flag=_FLAG,
                    local=_LOCAL_EXAMPLE)
