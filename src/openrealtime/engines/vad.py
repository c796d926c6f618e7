"""The voice activity detection engine interface: frames of 16 kHz audio in, speech
probabilities out, for many streams at once.

A model is stateless and shared; each audio stream owns an opaque ``VadState`` (for Silero: its
RNN state and the tail of the previous frame). Batching is the caller's business (the runtime's
shared worker): ``infer`` takes one frame from each of B streams and advances each stream's
state by one frame.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

FRAME_MS = 32
"""The length of one VAD frame: 512 samples at 16 kHz."""


class VadState(Protocol):
    """One stream's state between frames. Opaque: only the model that made it reads it."""


class VadModelError(RuntimeError):
    """The VAD model could not be loaded (missing, corrupt or not the expected model)."""


class VadModel(Protocol):
    sample_rate: int
    """The rate frames are given at (16000)."""
    frame_samples: int
    """Samples per frame (512)."""

    def new_state(self) -> VadState:
        """The state of a stream that has seen no audio yet."""
        ...

    def infer(
        self, frames: npt.NDArray[np.float32], states: list[VadState]
    ) -> npt.NDArray[np.float32]:
        """One frame per stream, shape ``(B, frame_samples)``, float32 in [-1, 1], with the B
        streams' states in the same order. Returns B speech probabilities and advances each
        state by its frame. Safe to call from a worker thread; the states are not shared with
        any other call while it runs."""
        ...
