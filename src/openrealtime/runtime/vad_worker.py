"""One voice activity detector for the whole server, batching frames across sessions.

A model per session would cost a model's memory and a model call per 32 ms frame per session.
Here every session opens a ``VadStream`` on one shared ``VadWorker``; streams queue their
frames, and the worker runs one batched ``infer`` at a time in a dedicated thread
(onnxruntime releases the GIL, so the event loop goes on serving sockets meanwhile).

Batching is natural, with no waiting to fill a batch: as soon as one batch returns, the next
takes whatever frames have queued meanwhile. A batch holds at most one frame per stream,
because a stream's next frame needs the state its previous frame left; so a stream is "ready"
when it has a frame queued and none in flight, and the ready streams form a FIFO queue.

Each ``analyze(chunk)`` call converts its chunk to 16 kHz, cuts whatever whole frames that
completes and returns a future of their probabilities, in order. Inference errors fail the
futures of the frames in that batch, not the worker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from openrealtime.audio.convert import Converter, Quality
from openrealtime.audio.spec import AudioSpec
from openrealtime.engines.vad import VadModel, VadState

# The VAD hears audio as soon as it arrives: QQ adds no resampler latency (HQ would add
# 20-60 ms), and a detector does not care about the aliasing QQ lets through.
VAD_RESAMPLE_QUALITY: Quality = "QQ"


class VadClosedError(RuntimeError):
    """The stream or the worker was closed before the frame was analysed."""


@dataclass(eq=False, slots=True)
class _Request:
    """One ``analyze`` call: the frames it completed, and what has come back for them."""

    future: asyncio.Future[list[float]]
    remaining: int
    probs: list[float] = field(default_factory=list)


class VadStream:
    """One session's input audio, analysed frame by frame in order. Made by ``open_stream``."""

    def __init__(self, worker: VadWorker, spec: AudioSpec) -> None:
        self.spec = spec
        self._worker = worker
        self._model_rate = worker.model.sample_rate
        self._frame_bytes = 2 * worker.model.frame_samples
        self._converter = Converter(
            spec, AudioSpec("pcm16", self._model_rate), quality=VAD_RESAMPLE_QUALITY
        )
        self._pcm = bytearray()  # converted audio short of a whole frame
        self.state: VadState = worker.model.new_state()
        self._frames: deque[tuple[npt.NDArray[np.int16], _Request]] = deque()
        self._requests: deque[_Request] = deque()
        self.in_flight = False  # a frame of ours is in the batch being run
        self.queued = False  # we are in the worker's ready queue
        self.closed = False
        self.frames_analyzed = 0

    def analyze(self, audio: bytes) -> Awaitable[list[float]]:
        """Add a chunk of ``spec`` audio; resolves to the probabilities of the frames it
        completed (possibly none), in order. Await one call before making the next."""
        if self.closed:
            raise VadClosedError("this VAD stream is closed")
        self._pcm += self._converter.convert(audio)
        count = len(self._pcm) // self._frame_bytes
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        if count == 0 and not self._requests:
            future.set_result([])
            return future
        request = _Request(future, count)
        self._requests.append(request)
        if count:
            cut = count * self._frame_bytes
            pcm = np.frombuffer(bytes(self._pcm[:cut]), dtype="<i2")
            del self._pcm[:cut]
            for frame in pcm.reshape(count, -1):
                self._frames.append((frame, request))
            self._worker._schedule(self)
        else:
            self._settle()  # a frameless call queued behind pending ones
        return future

    def close(self) -> None:
        """Release the stream; calls still waiting fail with ``VadClosedError``."""
        if self.closed:
            return
        self._fail_all(VadClosedError("the VAD stream was closed"))
        self.closed = True
        self._pcm.clear()
        self._worker._forget(self)

    # --- used by the worker -----------------------------------------------------------------

    def _next_frame(self) -> npt.NDArray[np.int16]:
        return self._frames[0][0]

    def _deliver(self, prob: float) -> None:
        _frame, request = self._frames.popleft()
        request.probs.append(prob)
        request.remaining -= 1
        self.frames_analyzed += 1
        self._settle()

    def _fail(self, exc: BaseException) -> None:
        """The frame in flight failed: its call fails, and its other frames are dropped."""
        _frame, request = self._frames.popleft()
        while self._frames and self._frames[0][1] is request:
            self._frames.popleft()
        request.remaining = 0
        if not request.future.done():
            request.future.set_exception(exc)
        self._requests.remove(request)
        self._settle()

    def _settle(self) -> None:
        # Resolve calls from the front, in order, as their last frame comes back.
        while self._requests and self._requests[0].remaining == 0:
            request = self._requests.popleft()
            if not request.future.done():
                request.future.set_result(request.probs)

    def _fail_all(self, exc: VadClosedError) -> None:
        self._frames.clear()
        for request in self._requests:
            if not request.future.done():
                request.future.set_exception(exc)
                # Closing is the owner's own act: no "exception never retrieved" log if no
                # one awaits the call any more. (Not a cancel: that would look, to a task
                # awaiting it, as if the task itself had been cancelled.)
                request.future.exception()
        self._requests.clear()


class VadWorker:
    """The shared batching worker. Open streams with ``open_stream``; ``aclose`` at shutdown."""

    def __init__(self, model: VadModel, max_batch: int = 512) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.model = model
        self.max_batch = max_batch
        self._ready: deque[VadStream] = deque()
        self._streams: set[VadStream] = set()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        """Batches run so far (for tests and metrics)."""

    def open_stream(self, spec: AudioSpec) -> VadStream:
        if self._closed:
            raise VadClosedError("the VAD worker is closed")
        stream = VadStream(self, spec)
        self._streams.add(stream)
        return stream

    async def aclose(self) -> None:
        """Stop after the batch in flight; every call still waiting fails with
        ``VadClosedError``."""
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        error = VadClosedError("the VAD worker was closed")
        for stream in self._streams:
            stream._fail_all(error)
            stream.closed = True
        self._streams.clear()
        self._ready.clear()  # the streams are closed; their flags no longer matter
        self._executor.shutdown(wait=False)

    def _schedule(self, stream: VadStream) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="vad-worker")
        if not stream.in_flight and not stream.queued:
            self._enqueue(stream)

    def _enqueue(self, stream: VadStream) -> None:
        stream.queued = True
        self._ready.append(stream)
        self._wakeup.set()

    def _forget(self, stream: VadStream) -> None:
        self._streams.discard(stream)
        if stream.queued:
            self._ready.remove(stream)
            stream.queued = False

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            if not self._ready:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._ready.popleft() for _ in range(min(self.max_batch, len(self._ready)))]
            for stream in batch:
                stream.queued = False
                stream.in_flight = True
            try:
                frames = np.stack([s._next_frame() for s in batch])
                states = [s.state for s in batch]
                probs = await loop.run_in_executor(self._executor, self._infer, frames, states)
            except Exception as exc:  # delivered to the callers; the worker goes on
                for stream in batch:
                    stream.in_flight = False
                    if not stream.closed:
                        stream._fail(exc)
            else:
                for stream, prob in zip(batch, probs, strict=True):
                    stream.in_flight = False
                    if not stream.closed:
                        stream._deliver(prob)
            self.batches += 1
            for stream in batch:
                if stream._frames and not stream.closed:
                    self._enqueue(stream)

    def _infer(self, frames: npt.NDArray[np.int16], states: list[VadState]) -> list[float]:
        # Runs in the worker thread: int16 -> float here keeps that work off the event loop.
        x = frames.astype(np.float32) / np.float32(32768.0)
        probs = self.model.infer(x, states)
        if len(probs) != len(states):
            raise RuntimeError(f"VAD model returned {len(probs)} results for {len(states)}")
        return [float(p) for p in probs]
