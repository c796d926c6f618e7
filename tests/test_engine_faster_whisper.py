"""The faster-whisper engine, with the real faster-whisper and CTranslate2, on a tiny Whisper
with random weights (``tiny_whisper``): it hears real speech and writes gibberish, so these
tests check the pipeline (streaming, lengths, options, cancellation, errors), not the words."""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from speech import seconds, speech_pcm24k

from openrealtime.audio.convert import Converter
from openrealtime.audio.spec import AudioSpec
from openrealtime.engines.faster_whisper_stt import FasterWhisperTranscriber
from openrealtime.engines.loading import EngineLoadError
from openrealtime.engines.stt import (
    STTError,
    TranscriptChunk,
    TranscriptDelta,
    TranscriptDone,
    TranscriptionRequest,
)

pytestmark = pytest.mark.tiny_models

TIMEOUT = 20.0
SAID = "Hello there. This is a test of speech to text, in a voice made by espeak."


@pytest.fixture(scope="module")
def fw() -> ModuleType:
    return pytest.importorskip("faster_whisper")


@pytest.fixture(scope="module")
def model_dir(fw: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_whisper import build

    return build(tmp_path_factory.mktemp("whisper") / "tiny-random-whisper")


@pytest.fixture
async def engine(model_dir: Path) -> AsyncIterator[FasterWhisperTranscriber]:
    # One thread: CTranslate2's default of 4 on a busy 2-core machine is ten times slower.
    stt = FasterWhisperTranscriber(str(model_dir), device="cpu", cpu_threads=1)
    yield stt
    await stt.aclose()


def pcm16k(pcm24k: bytes) -> bytes:
    conv = Converter(AudioSpec("pcm16", 24000), AudioSpec("pcm16", 16000))
    return conv.convert(pcm24k) + conv.flush()


def request(audio: bytes, rate: int = 16000, language: str | None = None,
            prompt: str | None = None) -> TranscriptionRequest:
    return TranscriptionRequest(audio=audio, sample_rate=rate, model="whisper-1",
                                language=language, prompt=prompt)


async def transcribe(engine: FasterWhisperTranscriber,
                     req: TranscriptionRequest) -> list[TranscriptChunk]:
    async def collect() -> list[TranscriptChunk]:
        return [chunk async for chunk in engine.transcribe(req)]

    return await asyncio.wait_for(collect(), TIMEOUT)


def spy_on_transcribe(engine: FasterWhisperTranscriber,
                      monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the options each call hands to faster-whisper's ``WhisperModel.transcribe``."""
    calls: list[dict[str, Any]] = []
    model = engine._model
    original = model.transcribe

    def recording(audio: Any, **options: Any) -> Any:
        calls.append(options)
        return original(audio, **options)

    monkeypatch.setattr(model, "transcribe", recording)
    return calls


async def test_transcribes_speech_streaming_segment_by_segment(
        engine: FasterWhisperTranscriber, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy_on_transcribe(engine, monkeypatch)
    audio = pcm16k(speech_pcm24k(SAID))
    chunks = await transcribe(engine, request(audio))

    *deltas, done = chunks
    assert isinstance(done, TranscriptDone)
    assert all(isinstance(d, TranscriptDelta) and d.text for d in deltas)
    assert deltas, "the random model says something, and it arrives as deltas"
    assert isinstance(done.text, str)
    assert done.text == "".join(d.text for d in deltas if isinstance(d, TranscriptDelta))
    assert done.text == done.text.lstrip()  # Whisper's leading space is not the transcript's
    assert done.duration_s == pytest.approx(seconds(audio, 16000))
    assert calls[0]["language"] is None  # none asked for: Whisper detects it


async def test_language_and_prompt_go_to_whisper(
        engine: FasterWhisperTranscriber, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy_on_transcribe(engine, monkeypatch)
    audio = speech_pcm24k("Bonjour.", voice="fr")  # at 24 kHz: the engine resamples it
    chunks = await transcribe(engine, request(audio, 24000, language="fr-FR",
                                              prompt="Une conversation polie."))

    assert calls[0]["language"] == "fr"
    assert calls[0]["initial_prompt"] == "Une conversation polie."
    assert isinstance(chunks[-1], TranscriptDone)
    assert chunks[-1].duration_s == pytest.approx(seconds(audio, 24000))


async def test_unknown_language_is_refused_before_decoding(
        engine: FasterWhisperTranscriber) -> None:
    with pytest.raises(STTError) as err:
        await transcribe(engine, request(pcm16k(speech_pcm24k("Hi.")), language="klingon"))
    assert err.value.code == "stt_unsupported_language"
    assert "'klingon'" in err.value.message


async def test_no_audio_is_an_empty_transcript(engine: FasterWhisperTranscriber) -> None:
    assert await transcribe(engine, request(b"")) == [TranscriptDone("", 0.0)]


class EndlessSegments:
    """Stands in for faster-whisper's lazy segments (one per window of audio) with an endless
    stream of them, so that only the engine's pulling ends it; the second waits for ``gone``."""

    def __init__(self) -> None:
        self.pulled = 0
        self.gone = threading.Event()
        self.closed = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[SimpleNamespace]:
        try:
            for i in itertools.count():
                self.pulled += 1
                if i == 1:
                    self.gone.wait(TIMEOUT)
                yield SimpleNamespace(text=f" window{i}")
        finally:
            self.closed.set()


async def test_cancelling_the_consumer_stops_decoding(
        engine: FasterWhisperTranscriber, monkeypatch: pytest.MonkeyPatch) -> None:
    segments = EndlessSegments()
    monkeypatch.setattr(engine._model, "generate_segments", segments)
    first = asyncio.Event()
    got: list[TranscriptChunk] = []

    async def consume() -> None:
        async for chunk in engine.transcribe(request(pcm16k(speech_pcm24k(SAID)))):
            got.append(chunk)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), TIMEOUT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    segments.gone.set()  # the worker may have asked for one more window before the cancel

    assert await asyncio.to_thread(segments.closed.wait, TIMEOUT), "decoding went on"
    assert got == [TranscriptDelta("window0")]
    assert segments.pulled <= 2
    # The worker is free again: the next utterance is decoded (by the real model).
    monkeypatch.undo()
    chunks = await transcribe(engine, request(pcm16k(speech_pcm24k("Next."))))
    assert isinstance(chunks[-1], TranscriptDone)


async def test_closing_the_engine_fails_a_transcription_under_way(
        engine: FasterWhisperTranscriber, monkeypatch: pytest.MonkeyPatch) -> None:
    segments = EndlessSegments()
    monkeypatch.setattr(engine._model, "generate_segments", segments)
    stream = engine.transcribe(request(pcm16k(speech_pcm24k("Hi."))))
    assert await asyncio.wait_for(anext(stream), TIMEOUT) == TranscriptDelta("window0")
    await engine.aclose()
    segments.gone.set()

    async def rest() -> None:
        async for chunk in stream:
            assert isinstance(chunk, TranscriptDelta)  # a window decoded before the close

    with pytest.raises(STTError) as err:  # not a TranscriptDone with half the words
        await asyncio.wait_for(rest(), TIMEOUT)
    assert err.value.code == "stt_unavailable"
    assert await asyncio.to_thread(segments.closed.wait, TIMEOUT)


async def test_workers_decode_utterances_side_by_side(model_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    stt = FasterWhisperTranscriber(str(model_dir), device="cpu", cpu_threads=1, workers=2)
    both_in = threading.Barrier(2, timeout=TIMEOUT)  # broken if one decodes only after the other

    def one_window(*args: Any, **kwargs: Any) -> Iterator[SimpleNamespace]:
        both_in.wait()
        yield SimpleNamespace(text=" said")

    monkeypatch.setattr(stt._model, "generate_segments", one_window)
    try:
        results = await asyncio.gather(
            *(transcribe(stt, request(pcm16k(speech_pcm24k("Hi.")), language="en"))
              for _ in range(2)))
    finally:
        await stt.aclose()
    for chunks in results:
        assert chunks[0] == TranscriptDelta("said")
        assert isinstance(chunks[1], TranscriptDone) and chunks[1].text == "said"


async def test_a_decoding_failure_is_an_stt_error(
        engine: FasterWhisperTranscriber, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(text=" partial")
        raise RuntimeError("CUDA failed with error out of memory")

    monkeypatch.setattr(engine._model, "generate_segments", broken)
    stream = engine.transcribe(request(pcm16k(speech_pcm24k("Hi."))))
    assert await asyncio.wait_for(anext(stream), TIMEOUT) == TranscriptDelta("partial")
    with pytest.raises(STTError) as err:
        await asyncio.wait_for(anext(stream), TIMEOUT)
    assert err.value.code == "stt_engine_error"
    assert "out of memory" in err.value.message


async def test_a_closed_engine_refuses_work(model_dir: Path) -> None:
    stt = FasterWhisperTranscriber(str(model_dir), device="cpu", cpu_threads=1)
    await stt.aclose()
    with pytest.raises(STTError) as err:
        await transcribe(stt, request(pcm16k(speech_pcm24k("Hi."))))
    assert err.value.code == "stt_unavailable"


def test_hub_name_fails_fast_offline(fw: ModuleType, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    # Offline, with an empty cache, whatever this machine's network and cache hold.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(EngineLoadError) as err:
        FasterWhisperTranscriber("small")
    assert time.monotonic() - started < 5
    message = str(err.value)
    assert "\n" not in message
    assert "'small'" in message
    assert "downloading it from the Hugging Face hub failed" in message
    assert message.endswith("--asr-model /path/to/faster-whisper-small")


def test_hub_id_that_cannot_be_downloaded(fw: ModuleType, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    # The real network path: no hub here (fails at once), or no such repository on it.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(EngineLoadError) as err:
        FasterWhisperTranscriber("openrealtime-tests/no-such-whisper")
    assert "'openrealtime-tests/no-such-whisper'" in str(err.value)
    assert "hub failed" in str(err.value)


def test_a_directory_without_a_model_says_what_is_missing(fw: ModuleType,
                                                          tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(EngineLoadError) as err:
        FasterWhisperTranscriber(str(tmp_path))
    message = str(err.value)
    assert "not a CTranslate2 Whisper model directory" in message
    assert "no tokenizer.json, vocabulary.json" in message
    assert "model.bin" not in message.split("(")[1].split(")")[0]


def test_a_missing_local_path_is_not_looked_up_on_the_hub(fw: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(EngineLoadError, match="no model directory at"):
        FasterWhisperTranscriber(str(tmp_path / "faster-whisper-small"))
    with pytest.raises(EngineLoadError, match="no model directory at"):
        FasterWhisperTranscriber("./no-such-model-dir")


def test_an_unknown_size_lists_the_known_ones(fw: ModuleType) -> None:
    with pytest.raises(EngineLoadError) as err:
        FasterWhisperTranscriber("smal")
    assert "'smal'" in str(err.value)
    assert "large-v3" in str(err.value)


def test_a_broken_model_file_is_a_load_error(fw: ModuleType, model_dir: Path,
                                             tmp_path: Path) -> None:
    for name in ("tokenizer.json", "vocabulary.json", "config.json"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    (tmp_path / "model.bin").write_bytes(b"not a model")
    with pytest.raises(EngineLoadError, match="could not load") as err:
        FasterWhisperTranscriber(str(tmp_path), device="cpu")
    assert "\n" not in str(err.value)


def test_without_the_extra_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import faster_whisper fails
    with pytest.raises(EngineLoadError) as err:
        FasterWhisperTranscriber("small")
    assert "the faster-whisper engine needs the 'whisper' extra" in str(err.value)
    assert "pip install 'openrealtime[whisper]'" in str(err.value)

