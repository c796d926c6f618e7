"""The runtime's audio work: the VAD listener keeps order, joins a backlog, restarts per epoch."""

from __future__ import annotations

import asyncio

from conftest import TIMEOUT

from openrealtime.audio.spec import PCM24K, PCMU, AudioSpec
from openrealtime.runtime.audio_work import Listener
from openrealtime.session.effects import DetectSpeech, Result, SpeechProbabilities


class GatedStream:
    def __init__(self, spec: AudioSpec, worker: GatedWorker) -> None:
        self.spec, self.calls, self.gate = spec, worker.calls, worker.gate
        self.called = worker.called
        self.closed = False

    async def analyze(self, audio: bytes) -> list[float]:
        self.calls.append((self.spec, audio))
        self.called.set()
        await self.gate.wait()
        return [0.5]

    def close(self) -> None:
        self.closed = True


class GatedWorker:
    def __init__(self) -> None:
        self.calls: list[tuple[AudioSpec, bytes]] = []
        self.gate = asyncio.Event()
        self.called = asyncio.Event()
        self.streams: list[GatedStream] = []

    def open_stream(self, spec: AudioSpec) -> GatedStream:
        self.streams.append(GatedStream(spec, self))
        return self.streams[-1]


async def test_a_backlog_is_analyzed_in_one_call_and_a_new_epoch_opens_a_new_stream() -> None:
    worker = GatedWorker()
    fed: list[Result] = []
    all_fed = asyncio.Event()

    async def feed(result: Result) -> None:
        fed.append(result)
        if len(fed) == 3:
            all_fed.set()

    listener = Listener(worker, feed)  # type: ignore[arg-type]
    task = asyncio.create_task(listener.run())
    listener.hear(DetectSpeech(1, b"a", PCM24K))
    async with asyncio.timeout(TIMEOUT):
        await worker.called.wait()  # the first append is in flight
    for audio in (b"b", b"c"):
        listener.hear(DetectSpeech(1, audio, PCM24K))
    listener.hear(DetectSpeech(2, b"d", PCMU))
    worker.gate.set()
    async with asyncio.timeout(TIMEOUT):
        await all_fed.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert worker.calls == [(PCM24K, b"a"), (PCM24K, b"bc"), (PCMU, b"d")]
    assert [r.epoch for r in fed if isinstance(r, SpeechProbabilities)] == [1, 1, 2]
    assert [s.closed for s in worker.streams] == [True, True]
