"""pocketsphinx as the default speech-to-text engine: small, CPU-only, offline, installed with
openrealtime itself (the ``pocketsphinx`` wheel carries a US English acoustic model, the CMU
pronouncing dictionary and a general language model). Accuracy is modest: it suits trying the
server out and clear, plain speech, not production; point ``--asr-base-url`` at a Whisper
server, or use the faster-whisper engine, for that.

pocketsphinx knows English only: a request for another language is still transcribed, as
English. The request's ``prompt`` is ignored.

A decoder is not thread-safe, so each worker thread takes one from a small pool (``workers``
decoders at most, made as needed) for a whole utterance.

Each utterance is decoded on its own: cepstral mean normalisation in batch mode, over the whole
utterance, with the front end reset before it. pocketsphinx's live default keeps a running
estimate, which would carry one session's voice and microphone over into the next utterance
the same pooled decoder hears, and make a transcript depend on what came before. Measured on
espeak's voices, batch mode is as accurate as a live estimate that has already adapted, and
far better than a fresh one. It needs the utterance whole, so long audio is decoded in pieces
of at most 10 s, cut where it is quietest; between pieces, a transcription nobody waits for
any more stops.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.convert import Converter
from ..audio.spec import AudioSpec
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
        English one. ``workers``: utterances decoded at once, each with its own decoder."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        try:
            import pocketsphinx
        except ImportError as err:
            raise EngineLoadError(f"the {ENGINE} engine cannot import pocketsphinx ({err}); "
                                  "reinstall it: pip install --force-reinstall pocketsphinx"
                                  ) from None
        self._ps: Any = pocketsphinx
        self._config = model_files(model_dir)
        try:
            first = self._new_decoder()  # now, so that a bad model stops the server at start
        except Exception as err:  # pocketsphinx raises RuntimeError, ValueError, OSError…
            fix = (f"give {_LAYOUT}" if model_dir else
                   "reinstall it: pip install --force-reinstall pocketsphinx")
            raise EngineLoadError(f"the {ENGINE} engine cannot load "
                                  f"{model_dir or 'its built-in English model'} "
                                  f"({first_line(err)}); {fix}") from None
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle.put(first)
        # Its own threads: a long utterance holds one of them, never a thread of the loop's
        # default pool that other work (file reads, DNS) needs.
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="pocketsphinx")
        self._stops: set[threading.Event] = set()
        self._closed = False

    def _new_decoder(self) -> Any:
        return self._ps.Decoder(loglevel="ERROR", cmn="batch", **self._config)

    def _decode(self, pcm: bytes, stop: threading.Event) -> str | None:
        """The words in ``pcm`` (16 kHz PCM16), or ``None`` when told to stop."""
        if stop.is_set():  # given up while it waited for a worker
            return None
        try:
            decoder = self._idle.get_nowait()
        except queue.Empty:  # at most one decoder per worker thread is ever made
            decoder = self._new_decoder()
        words: list[str] = []
        for piece in _pieces(pcm):
            if len(piece) < MIN_BYTES:
                continue  # a sliver after a cut (no frames at all would fail)
            decoder.reinit_feat()  # no front-end state from the last utterance (~30 us)
            decoder.start_utt()
            decoder.process_raw(piece, False, True)  # full_utt: the batch mean over the piece
            decoder.end_utt()
            hyp = decoder.hyp()
            if hyp is not None:
                words += _words(hyp.hypstr)
            if stop.is_set():
                break
        # Back to the pool only after clean utterances: one that raised may be in any state.
        self._idle.put(decoder)
        return None if stop.is_set() else " ".join(words)

    async def transcribe(
            self, request: TranscriptionRequest) -> AsyncGenerator[TranscriptChunk, None]:
        if self._closed:
            raise STTError(ENGINE_ERROR, f"the {ENGINE} engine is closed.")
        duration = len(request.audio) // 2 / request.sample_rate if request.sample_rate else 0.0
        pcm = _at_16k(request)
        if len(pcm) < MIN_BYTES or _silent(pcm):
            yield TranscriptDone("", duration)
            return
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        self._stops.add(stop)
        try:
            job = loop.run_in_executor(self._pool, self._decode, pcm, stop)
            text = await job
        except Exception as err:
            if self._closed:  # the pool was shut down before the job could be queued
                raise STTError(ENGINE_ERROR, f"the {ENGINE} engine is closed.") from err
            raise STTError(ENGINE_ERROR, f"{ENGINE} failed: {first_line(err)}") from err
        finally:
            stop.set()  # a decode nobody waits for stops before its next piece
            self._stops.discard(stop)
        if text is None:
            raise STTError(ENGINE_ERROR, f"the {ENGINE} engine was closed during the "
                                         "transcription.")
        if text:
            yield TranscriptDelta(text)
        yield TranscriptDone(text, duration)

    async def aclose(self) -> None:
        """Take no more requests, stop those in progress, and wait for their threads."""
        self._closed = True
        for stop in list(self._stops):
            stop.set()
        await asyncio.to_thread(self._pool.shutdown, wait=True)


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
