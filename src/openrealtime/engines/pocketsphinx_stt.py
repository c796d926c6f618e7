"""pocketsphinx as the default speech-to-text engine: small, CPU-only, offline, installed with
openrealtime itself (the ``pocketsphinx`` wheel carries a US English acoustic model, the CMU
pronouncing dictionary and a general language model). Accuracy is modest: it suits trying the
server out and clear, plain speech, not production; point ``--asr-base-url`` at a Whisper
server, or use the faster-whisper engine, for that.

pocketsphinx knows English only: a request for another language is still transcribed, as
English. The request's ``prompt`` is ignored.

Decoding runs in ``workers`` worker processes with a decoder each (``pocketsphinx_worker``):
pocketsphinx holds the GIL while it decodes, so in a thread it would freeze the event loop and
every session for as long as a decode takes. Processes also decode on several cores at once.

Each utterance is decoded on its own: cepstral mean normalisation in batch mode, over the whole
utterance, with the front end reset before it. pocketsphinx's live default keeps a running
estimate, which would carry one session's voice and microphone over into the next utterance
the same worker's decoder hears, and make a transcript depend on what came before. Measured on
espeak's voices, batch mode is as accurate as a live estimate that has already adapted, and
far better than a fresh one. It needs the utterance whole, so long audio is decoded in pieces
of at most 10 s, cut where it is quietest; between pieces, a transcription nobody waits for
any more stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ..audio.convert import Converter
from ..audio.spec import AudioSpec
from . import pocketsphinx_worker as worker
from .loading import EngineLoadError, first_line
from .stt import STTError, TranscriptChunk, TranscriptDelta, TranscriptDone, TranscriptionRequest

ENGINE = "pocketsphinx"
ENGINE_ERROR = "stt_engine_error"
RATE = 16000
PIECE_S = 10.0
"""The longest audio decoded in one go."""
CUT_WINDOW_S = 3.0
"""A long utterance is cut at the quietest 10 ms of the last seconds before ``PIECE_S``."""
MIN_SECONDS = 0.1
"""Shorter audio holds no word (and pocketsphinx fails on a decode of no frames at all)."""
MIN_BYTES = int(MIN_SECONDS * RATE) * 2
SILENT_PEAK = 16
"""Audio that never goes above this (-66 dBFS) carries no signal; pocketsphinx would still
find a word in it (digital silence, as a muted client sends, decodes as "dog" or "it")."""
_LM_PATTERNS = ("*.lm.bin", "*.lm", "*.arpa", "*.lm.dmp", "*.DMP")
_LAYOUT = ("a folder laid out like the pocketsphinx wheel's model/en-us: the acoustic model "
           "(a folder with mdef, means, variances…), a dictionary (*.dict) and a language "
           "model (*.lm.bin)")


class PocketsphinxTranscriber:
    name = ENGINE
    sample_rate = RATE

    def __init__(self, model_dir: str | None = None, workers: int = 2) -> None:
        """``model_dir``: another model (see ``model_files``); by default the wheel's US
        English one. ``workers``: utterances decoded at once, each in its own process."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        try:
            import pocketsphinx
        except ImportError as err:
            raise EngineLoadError(f"the {ENGINE} engine cannot import pocketsphinx ({err}); "
                                  "reinstall it: pip install --force-reinstall pocketsphinx"
                                  ) from None
        self._config = model_files(model_dir)
        try:  # here, so that a bad model stops the server at start with a clear line
            pocketsphinx.Decoder(loglevel="ERROR", cmn="batch", **self._config)
        except Exception as err:  # pocketsphinx raises RuntimeError, ValueError, OSError…
            fix = (f"give {_LAYOUT}" if model_dir else
                   "reinstall it: pip install --force-reinstall pocketsphinx")
            raise EngineLoadError(f"the {ENGINE} engine cannot load "
                                  f"{model_dir or 'its built-in English model'} "
                                  f"({first_line(err)}); {fix}") from None
        self._workers = workers
        self._pool = self._new_pool()
        self.decoding = 0
        """Pieces being decoded or waiting for a worker now."""
        self._closed = False

    def _new_pool(self) -> ProcessPoolExecutor:
        # Processes, not threads: a decode holds the GIL for its whole length. Spawned, not
        # forked: the server has threads (onnxruntime, executors) a fork would copy mid-work.
        pool = ProcessPoolExecutor(self._workers, mp_context=get_context("spawn"),
                                   initializer=worker.start, initargs=(self._config,))
        for _ in range(self._workers):
            pool.submit(worker.ready)  # start them now, not at the first turn
        return pool

    async def _decode(self, piece: bytes) -> str:
        self.decoding += 1
        try:
            return await asyncio.wrap_future(self._pool.submit(worker.decode, piece))
        except BrokenProcessPool as err:  # a worker died (killed, out of memory): start anew
            self._pool = self._new_pool()
            raise STTError(ENGINE_ERROR, f"a {ENGINE} worker process died: "
                                         f"{first_line(err)}") from err
        finally:
            self.decoding -= 1

    async def transcribe(
            self, request: TranscriptionRequest) -> AsyncGenerator[TranscriptChunk, None]:
        if self._closed:
            raise STTError(ENGINE_ERROR, f"the {ENGINE} engine is closed.")
        duration = len(request.audio) // 2 / request.sample_rate if request.sample_rate else 0.0
        pcm = _at_16k(request)
        if len(pcm) < MIN_BYTES or _silent(pcm):
            yield TranscriptDone("", duration)
            return
        words: list[str] = []
        try:
            # Piece by piece: a transcription nobody waits for any more (cancelled, closed)
            # stops after the piece a worker is on.
            for piece in _pieces(pcm):
                if len(piece) >= MIN_BYTES:  # a sliver after a cut: no frames would fail
                    words += _words(await self._decode(piece))
        except STTError:
            raise
        except Exception as err:  # CancelledError is not an Exception: it passes through
            if self._closed:
                raise STTError(ENGINE_ERROR, f"the {ENGINE} engine was closed during the "
                                             "transcription.") from err
            raise STTError(ENGINE_ERROR, f"{ENGINE} failed: {first_line(err)}") from err
        text = " ".join(words)
        if text:
            yield TranscriptDelta(text)
        yield TranscriptDone(text, duration)

    async def aclose(self) -> None:
        """Take no more requests, drop queued pieces, and wait for the worker processes."""
        self._closed = True
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)


def model_files(model_dir: str | None) -> dict[str, str]:
    """The decoder's ``hmm``, ``dict`` and ``lm`` for a model folder (``{}``: the wheel's own).

    ``model_dir`` is the acoustic model folder itself (holding ``mdef``) or a folder that holds
    one; the dictionary and the language model are looked for beside it and within it.
    """
    if model_dir is None:
        return {}
    root = Path(model_dir).expanduser()
    if not root.is_dir():
        raise EngineLoadError(f"the {ENGINE} engine: model folder {model_dir!r} not found; "
                              f"give {_LAYOUT}")
    if (root / "mdef").is_file():
        hmm, places = root, [root, root.parent]
    else:
        found = [d for d in sorted(root.iterdir()) if (d / "mdef").is_file()]
        if not found:
            raise EngineLoadError(f"the {ENGINE} engine: no acoustic model (a folder with "
                                  f"mdef) in {model_dir!r}; give {_LAYOUT}")
        hmm, places = found[0], [root, found[0]]
    dicts = [f for p in places for f in sorted(p.glob("*.dict"))]
    # The wheel puts a phone-loop model (for phoneme recognition) beside its word model.
    lms = [f for p in places for pattern in _LM_PATTERNS for f in sorted(p.glob(pattern))
           if "phone" not in f.name]
    if not dicts or not lms:
        missing = "a dictionary (*.dict)" if not dicts else "a language model (*.lm.bin)"
        raise EngineLoadError(f"the {ENGINE} engine: {missing} is missing beside the acoustic "
                              f"model {str(hmm)!r}; give {_LAYOUT}")
    return {"hmm": str(hmm), "dict": str(dicts[0]), "lm": str(lms[0])}


def _at_16k(request: TranscriptionRequest) -> bytes:
    pcm = request.audio[: len(request.audio) // 2 * 2]
    if request.sample_rate == RATE or not pcm:
        return pcm
    conv = Converter(AudioSpec("pcm16", request.sample_rate), AudioSpec("pcm16", RATE))
    return conv.convert(pcm) + conv.flush()


def _silent(pcm: bytes) -> bool:
    return int(np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)).max()) <= SILENT_PEAK


def _pieces(pcm: bytes) -> Iterator[bytes]:
    """``pcm`` in pieces of at most ``PIECE_S``, each long one cut at its quietest 10 ms."""
    samples = np.frombuffer(pcm, dtype="<i2")
    frame, longest, window = RATE // 100, int(PIECE_S * RATE), int(CUT_WINDOW_S * RATE)
    start = 0
    while len(samples) - start > longest:
        lo = start + longest - window
        frames = samples[lo:start + longest].astype(np.float32).reshape(-1, frame)
        start_next = lo + int(np.argmin((frames * frames).sum(axis=1))) * frame
        yield samples[start:start_next].tobytes()
        start = start_next
    yield samples[start:].tobytes()


def _words(hypothesis: str) -> list[str]:
    # Fillers (<sil>, [NOISE], <s>) are not words of the transcript.
    return [w for w in hypothesis.split() if w[:1] not in "<["]
