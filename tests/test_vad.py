"""Silero VAD and the shared batching worker, on real speech from espeak-ng."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from openrealtime.audio.convert import Converter, to_float32
from openrealtime.audio.spec import PCM16K, PCM24K, PCMA, PCMU, AudioSpec
from openrealtime.engines.silero import DEFAULT_MODEL, SileroVad
from openrealtime.engines.vad import FRAME_MS, VadModelError, VadState
from openrealtime.runtime.vad_worker import VAD_RESAMPLE_QUALITY, VadClosedError, VadWorker

TEXT = "Hello there. This is a short test of the voice activity detector, spoken by a robot."
SILENCE_S = 0.6
FRAME_BYTES = 1024  # 512 samples of PCM16 at 16 kHz
TIMEOUT = 10.0


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> SileroVad:
    return SileroVad()


@pytest.fixture(scope="module")
def speech() -> bytes:
    """0.6 s of silence, the utterance, 0.6 s of silence; PCM16 at 16 kHz."""
    from openrealtime.engines.espeak import synthesize

    pcm, rate = synthesize(TEXT)
    conv = Converter(AudioSpec("pcm16", rate), PCM16K)
    pad = bytes(int(SILENCE_S * 16000) * 2)
    return pad + conv.convert(pcm) + conv.flush() + pad


@pytest.fixture
async def worker(model: SileroVad) -> AsyncIterator[VadWorker]:
    w = VadWorker(model)
    yield w
    await w.aclose()


def convert_all(pcm16k: bytes, spec: AudioSpec) -> bytes:
    conv = Converter(PCM16K, spec)
    return conv.convert(pcm16k) + conv.flush()


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def as_vad_input(parts: list[bytes], spec: AudioSpec) -> bytes:
    """What a stream turns ``parts`` into: the same streaming conversion, without its flush."""
    conv = Converter(spec, PCM16K, quality=VAD_RESAMPLE_QUALITY)
    return b"".join(conv.convert(p) for p in parts)


def single_stream(model: SileroVad, pcm16k: bytes) -> list[float]:
    """Frame by frame at batch size 1, straight through the model."""
    state = model.new_state()
    x = to_float32(pcm16k[: len(pcm16k) // FRAME_BYTES * FRAME_BYTES]).reshape(-1, 512)
    return [float(model.infer(frame[None, :], [state])[0]) for frame in x]


async def analyze_all(worker: VadWorker, spec: AudioSpec, parts: list[bytes]) -> list[float]:
    stream = worker.open_stream(spec)
    probs: list[float] = []
    for part in parts:
        async with asyncio.timeout(TIMEOUT):
            probs += await stream.analyze(part)
    stream.close()
    return probs


def speech_share(probs: list[float], pad_frames: int) -> float:
    """Share of frames inside the utterance (away from its edges) that read as speech."""
    inner = np.array(probs[pad_frames + 6 : len(probs) - pad_frames - 6])
    return float(np.mean(inner > 0.5))


PAD_FRAMES = int(SILENCE_S * 1000 / FRAME_MS)


# --- the model ------------------------------------------------------------------------------


def test_model_matches_silero_onnx_wrapper(model: SileroVad, speech: bytes) -> None:
    # silero-vad's OnnxWrapper, written out: 64 samples of context before each 512-sample frame.
    import onnxruntime as ort

    session = ort.InferenceSession(str(DEFAULT_MODEL), providers=["CPUExecutionProvider"])
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros((1, 64), dtype=np.float32)
    expected = []
    for frame in to_float32(speech[: len(speech) // FRAME_BYTES * FRAME_BYTES]).reshape(-1, 512):
        x = np.concatenate([context, frame[None, :]], axis=1)
        out, state = session.run(
            None, {"input": x, "state": state, "sr": np.array(16000, dtype=np.int64)}
        )
        context = x[:, -64:]
        expected.append(float(out[0, 0]))
    assert np.allclose(single_stream(model, speech), expected, atol=1e-6)


def test_silence_and_low_noise_are_not_speech(model: SileroVad) -> None:
    assert max(single_stream(model, bytes(16000 * 2 * 2))) < 0.1
    rng = np.random.default_rng(7)
    # White noise at about -60, -40 and -30 dBFS. (Near -50 dBFS the first frame after digital
    # silence reads about 0.12: the model hears the onset; it then settles under 0.1.)
    for level in (30, 300, 1000):
        noise = (rng.standard_normal(16000 * 2) * level).astype("<i2").tobytes()
        assert max(single_stream(model, noise)) < 0.1, level


def test_speech_reads_as_speech(model: SileroVad, speech: bytes) -> None:
    probs = single_stream(model, speech)
    assert max(probs[: PAD_FRAMES - 1]) < 0.1  # the silence before
    assert speech_share(probs, PAD_FRAMES) > 0.7
    assert max(probs[-6:]) < 0.1  # the end of the silence after


def test_a_batch_equals_streams_run_one_by_one(model: SileroVad, speech: bytes) -> None:
    # Eight streams, each the utterance shifted by a different amount.
    n, frames = 8, 60
    audio = [speech[i * 2 * 1000 :][: frames * FRAME_BYTES] for i in range(n)]
    alone = np.array([single_stream(model, a) for a in audio])
    states: list[VadState] = [model.new_state() for _ in range(n)]
    x = np.stack([to_float32(a).reshape(-1, 512) for a in audio])
    batched = np.stack([model.infer(x[:, k], states) for k in range(frames)], axis=1)
    assert np.abs(batched - alone).max() < 1e-4
    assert alone.max() > 0.5  # there was speech to agree on


def test_bad_frames_are_refused(model: SileroVad) -> None:
    with pytest.raises(ValueError, match="shape"):
        model.infer(np.zeros((2, 512), dtype=np.float32), [model.new_state()])


def test_missing_or_corrupt_model_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(VadModelError, match="nope.onnx"):
        SileroVad(missing)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not an onnx model")
    with pytest.raises(VadModelError, match="corrupt.onnx"):
        SileroVad(corrupt)


# --- the worker -----------------------------------------------------------------------------


async def test_worker_gives_one_probability_per_frame_in_order(
    worker: VadWorker, model: SileroVad, speech: bytes
) -> None:
    rng = np.random.default_rng(3)
    cuts = np.cumsum(rng.integers(1, 3000, 400))
    cuts = cuts[cuts < len(speech)]
    parts = [speech[a:b] for a, b in zip([0, *cuts], [*cuts, len(speech)], strict=True)]
    stream = worker.open_stream(PCM16K)
    probs: list[float] = []
    fed = 0
    for part in parts:
        got = await stream.analyze(part)
        # Exactly the frames this chunk completed.
        assert len(got) == (fed + len(part)) // FRAME_BYTES - fed // FRAME_BYTES
        fed += len(part)
        probs += got
    assert len(probs) == len(speech) // FRAME_BYTES
    assert np.allclose(probs, single_stream(model, speech), atol=1e-6)


async def test_worker_on_24k_and_g711_input(worker: VadWorker, speech: bytes) -> None:
    for spec in (PCM24K, PCMU, PCMA):
        parts = chunks(convert_all(speech, spec), spec.bytes_for_ms(20))
        probs = await analyze_all(worker, spec, parts)
        assert len(probs) == len(as_vad_input(parts, spec)) // FRAME_BYTES
        assert max(probs[: PAD_FRAMES - 2]) < 0.1
        assert speech_share(probs, PAD_FRAMES) > 0.6


async def test_fifty_concurrent_streams_are_batched_and_right(
    worker: VadWorker, model: SileroVad, speech: bytes
) -> None:
    # Fifty callers, each with the start of the utterance at its own offset, 20 ms at a time.
    clip = speech[: int(2.0 * 16000) * 2]
    inputs = [convert_all(bytes(k * 2 * 37) + clip, PCM24K) for k in range(50)]
    parts = [chunks(a, PCM24K.bytes_for_ms(20)) for a in inputs]
    results = await asyncio.gather(*(analyze_all(worker, PCM24K, p) for p in parts))
    total = 0
    for got, p in zip(results, parts, strict=True):
        expected = single_stream(model, as_vad_input(p, PCM24K))
        assert len(got) == len(expected)
        assert np.abs(np.array(got) - expected).max() < 1e-4
        total += len(got)
    assert max(max(r) for r in results) > 0.5
    assert total / worker.batches > 10  # frames really were batched across streams


class FlakyModel:
    """The real model, but a call fails while ``fail`` is set."""

    def __init__(self, inner: SileroVad) -> None:
        self.inner = inner
        self.sample_rate = inner.sample_rate
        self.frame_samples = inner.frame_samples
        self.fail = False

    def new_state(self) -> VadState:
        return self.inner.new_state()

    def infer(
        self, frames: npt.NDArray[np.float32], states: list[VadState]
    ) -> npt.NDArray[np.float32]:
        if self.fail:
            raise RuntimeError("inference exploded")
        return self.inner.infer(frames, states)


async def test_an_inference_error_reaches_callers_and_the_worker_goes_on(
    model: SileroVad, speech: bytes
) -> None:
    flaky = FlakyModel(model)
    worker = VadWorker(flaky)
    try:
        a, b = worker.open_stream(PCM16K), worker.open_stream(PCM16K)
        flaky.fail = True
        fa, fb = a.analyze(speech[: 3 * FRAME_BYTES]), b.analyze(speech[:FRAME_BYTES])
        for future in (fa, fb):
            with pytest.raises(RuntimeError, match="exploded"):
                await future
        flaky.fail = False
        assert len(await a.analyze(speech[3 * FRAME_BYTES : 5 * FRAME_BYTES])) == 2
        assert len(await b.analyze(speech[FRAME_BYTES : 2 * FRAME_BYTES])) == 1
    finally:
        await worker.aclose()


class GatedModel(FlakyModel):
    """The real model, but each call waits until the test opens the gate."""

    def __init__(self, inner: SileroVad) -> None:
        super().__init__(inner)
        self.started = threading.Event()
        self.gate = threading.Event()

    def infer(
        self, frames: npt.NDArray[np.float32], states: list[VadState]
    ) -> npt.NDArray[np.float32]:
        self.started.set()
        assert self.gate.wait(TIMEOUT)
        return self.inner.infer(frames, states)


async def test_aclose_finishes_the_batch_in_flight_and_fails_the_rest(model: SileroVad) -> None:
    gated = GatedModel(model)
    worker = VadWorker(gated)
    a, b = worker.open_stream(PCM16K), worker.open_stream(PCM16K)
    in_flight = a.analyze(bytes(FRAME_BYTES))
    assert await asyncio.to_thread(gated.started.wait, TIMEOUT)
    queued = b.analyze(bytes(FRAME_BYTES))
    closing = asyncio.create_task(worker.aclose())
    await asyncio.sleep(0)  # let aclose begin: it must wait for the batch in flight
    gated.gate.set()
    await closing
    assert len(await in_flight) == 1
    with pytest.raises(VadClosedError):
        await queued
    with pytest.raises(VadClosedError):
        worker.open_stream(PCM16K)
    with pytest.raises(VadClosedError):
        a.analyze(bytes(FRAME_BYTES))


async def test_closing_a_stream_fails_its_waiting_call(worker: VadWorker) -> None:
    stream = worker.open_stream(PCM16K)
    pending = stream.analyze(bytes(FRAME_BYTES))
    stream.close()
    with pytest.raises(VadClosedError):
        await pending
    with pytest.raises(VadClosedError):
        stream.analyze(bytes(FRAME_BYTES))
    other = worker.open_stream(PCM16K)
    assert len(await other.analyze(bytes(2 * FRAME_BYTES))) == 2


async def test_closing_a_stream_with_a_frame_in_flight(model: SileroVad) -> None:
    gated = GatedModel(model)
    worker = VadWorker(gated)
    try:
        a, b = worker.open_stream(PCM16K), worker.open_stream(PCM16K)
        in_flight = a.analyze(bytes(2 * FRAME_BYTES))
        assert await asyncio.to_thread(gated.started.wait, TIMEOUT)
        a.close()
        gated.gate.set()
        with pytest.raises(VadClosedError):
            await in_flight
        assert len(await b.analyze(bytes(FRAME_BYTES))) == 1
    finally:
        await worker.aclose()
