"""Silero VAD (v6, MIT) on onnxruntime, with its model shipped in this package.

Fed exactly as silero-vad's own ``OnnxWrapper`` feeds it: each 512-sample frame at 16 kHz goes
in with the last 64 samples of the stream's previous frame prepended (zeros before the first),
together with the stream's RNN state ``[2, 1, 128]``; the model returns the speech probability
and the next state. Streams are independent rows of a batch, so B streams cost one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openrealtime.engines.vad import VadModelError, VadState

DEFAULT_MODEL = Path(__file__).parent / "models" / "silero_vad.onnx"
SAMPLE_RATE = 16000
FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64  # silero's context for 16 kHz (32 at 8 kHz, which we never feed)
_STATE_SHAPE = (2, 128)  # per stream; the model takes [2, B, 128]


def _zeros(*shape: int) -> npt.NDArray[np.float32]:
    return np.zeros(shape, dtype=np.float32)


@dataclass(slots=True)
class SileroState:
    """One stream: its RNN state and the tail of its previous frame."""

    rnn: npt.NDArray[np.float32] = field(default_factory=lambda: _zeros(*_STATE_SHAPE))
    context: npt.NDArray[np.float32] = field(default_factory=lambda: _zeros(CONTEXT_SAMPLES))


class SileroVad:
    """The Silero VAD model. One instance serves every stream; call ``infer`` from one thread
    at a time (the runtime's worker does)."""

    sample_rate = SAMPLE_RATE
    frame_samples = FRAME_SAMPLES

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort  # heavy: imported only when a model is made

        self.path = path or DEFAULT_MODEL
        if not self.path.is_file():
            raise VadModelError(f"Silero VAD model not found at {self.path}")
        opts = ort.SessionOptions()
        # One thread per call by default: the server batches across sessions instead, and
        # leaves the other cores to the event loop and the other engines.
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(
                str(self.path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise VadModelError(f"cannot load Silero VAD model {self.path}: {exc}") from exc
        names = {i.name for i in self._session.get_inputs()}
        if names != {"input", "state", "sr"}:
            raise VadModelError(
                f"{self.path} is not a Silero VAD v5/v6 model (inputs: {sorted(names)})"
            )
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def new_state(self) -> VadState:
        return SileroState()

    def infer(
        self, frames: npt.NDArray[np.float32], states: list[VadState]
    ) -> npt.NDArray[np.float32]:
        batch = len(states)
        if frames.shape != (batch, FRAME_SAMPLES):
            raise ValueError(f"expected frames of shape ({batch}, {FRAME_SAMPLES}), "
                             f"got {frames.shape}")
        own = [s for s in states if isinstance(s, SileroState)]
        if len(own) != batch:
            raise TypeError("SileroVad.infer takes only states made by SileroVad.new_state")
        x = np.empty((batch, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
        rnn = np.empty((2, batch, 128), dtype=np.float32)
        for i, s in enumerate(own):
            x[i, :CONTEXT_SAMPLES] = s.context
            rnn[:, i] = s.rnn
        x[:, CONTEXT_SAMPLES:] = frames
        out, new_rnn = self._session.run(None, {"input": x, "state": rnn, "sr": self._sr})
        # States change only once the call has succeeded: a failed batch leaves streams as
        # they were.
        for i, s in enumerate(own):
            s.rnn = new_rnn[:, i].copy()
            s.context = x[i, -CONTEXT_SAMPLES:].copy()
        probs: npt.NDArray[np.float32] = np.asarray(out, dtype=np.float32).reshape(batch)
        return probs
