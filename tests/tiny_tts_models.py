"""Tiny RANDOM stand-ins for piper and kokoro models, for tests only: they speak no words.

Each graph has exactly the inputs and outputs (names, dtypes, ranks) of the real export, so the
real library loads and feeds it as it would a real voice, and its audio behaves the way tests
can check: the length grows with the number of input ids and follows the speed input, and the
speaker (piper ``sid``) or style vector (kokoro) changes the sound. The audio is a sine carrier
under a random step envelope, one step per input id.

- piper (VITS, ``piper/train/export_onnx.py``): ``input`` int64 [1, N], ``input_lengths`` int64
  [1], ``scales`` float32 [3] (noise, length, noise_w), ``sid`` int64 [1] when multi-speaker;
  ``output`` float32 [1, 1, 1, T] with T = N * PIPER_SAMPLES_PER_ID * length_scale.
- kokoro (``kokoro-v1.0.onnx``): ``tokens`` int64 [1, N], ``style`` float32 [1, 256],
  ``speed`` float32 [1]; ``audio`` float32 [T] with T = N * KOKORO_SAMPLES_PER_TOKEN / speed.
  Voices file: an npz of float32 [510, 1, 256] arrays, one per voice name.

``Gate`` holds a library call on its worker thread, for the engines' cancellation tests.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from openrealtime.engines.tts import SpeechRequest

PIPER_SAMPLES_PER_ID = 512  # two 256-sample frames per phoneme id
KOKORO_SAMPLES_PER_TOKEN = 1200  # 50 ms at 24 kHz
KOKORO_STYLE_SHAPE = (510, 1, 256)  # one style row per phoneme count, as in voices-v1.0.bin
KOKORO_VOCAB_SIZE = 178  # kokoro's n_token
GATE_TIMEOUT = 5.0
_OPSET = 15  # piper exports at 15; kokoro-v1.0 at 20, but nothing here needs more than 15


def _const(name: str, value: Any, dtype: Any) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def _audio_nodes(ids: str, count_scale: str, frequency: str, out: str) -> list[onnx.NodeProto]:
    """Nodes that turn ``ids`` [1, N] into audio of N * ``count_scale`` samples: a step
    envelope from the ``table`` initializer times sin(t * ``frequency``), reshaped to the
    ``out_shape`` initializer."""
    return [
        helper.make_node("Gather", ["table", ids], ["env_steps"]),  # [1, N] in [0.2, 1]
        helper.make_node("Shape", [ids], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", "one_i"], ["n"]),
        helper.make_node("Cast", ["n"], ["n_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["n_f", count_scale], ["t_raw"]),
        helper.make_node("Ceil", ["t_raw"], ["t_f"]),
        helper.make_node("Cast", ["t_f"], ["t"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["t", "zero_axes"], ["t_1"]),
        helper.make_node("Concat", ["lead_dims", "t_1"], ["sizes"], axis=0),
        helper.make_node("Reshape", ["env_steps", "env_shape"], ["env_in"]),
        helper.make_node("Resize", ["env_in", "", "", "sizes"], ["env"], mode="nearest"),
        helper.make_node("Range", ["zero_f", "t_f", "one_f"], ["time"]),
        helper.make_node("Mul", ["time", frequency], ["phase"]),
        helper.make_node("Sin", ["phase"], ["carrier"]),
        helper.make_node("Mul", ["env", "carrier"], ["wave"]),
        helper.make_node("Reshape", ["wave", "out_shape"], [out]),
    ]


def _common_initializers(rng: np.random.Generator, table_size: int,
                         rank: int) -> list[onnx.TensorProto]:
    return [
        _const("table", rng.uniform(0.2, 1.0, table_size), np.float32),
        _const("one_i", 1, np.int64),
        _const("zero_axes", [0], np.int64),
        _const("lead_dims", [1] * (rank - 1), np.int64),
        _const("env_shape", [1] * (rank - 1) + [-1], np.int64),
        _const("zero_f", 0.0, np.float32),
        _const("one_f", 1.0, np.float32),
    ]


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                              producer_name="openrealtime-tests-tiny-random")
    model.ir_version = 8  # what onnxruntime of every supported version reads
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def build_piper_voice(directory: Path, *, name: str = "tiny-random-piper",
                      num_speakers: int = 1, sample_rate: int = 22050,
                      speaker_names: list[str] | None = None, seed: int = 0) -> Path:
    """Write ``NAME.onnx`` and ``NAME.onnx.json`` (random weights); return the .onnx path."""
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP  # every espeak phoneme piper knows

    rng = np.random.default_rng(seed)
    num_symbols = 256
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, ["batch_size", "phonemes"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, ["batch_size"]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    nodes = [
        helper.make_node("Gather", ["scales", "one_i"], ["length_scale"]),
        helper.make_node("Mul", ["length_scale", "samples_per_id"], ["count_scale"]),
    ]
    inits = [*_common_initializers(rng, num_symbols, rank=4),
             _const("samples_per_id", float(PIPER_SAMPLES_PER_ID), np.float32),
             _const("out_shape", [1, 1, 1, -1], np.int64)]
    if num_speakers > 1:
        inputs.append(helper.make_tensor_value_info("sid", TensorProto.INT64, [1]))
        # Each speaker its own pitch, well apart, so their audio differs.
        inits.append(_const("speaker_freqs", 0.03 + 0.02 * np.arange(num_speakers), np.float32))
        nodes.append(helper.make_node("Gather", ["speaker_freqs", "sid"], ["frequency"]))
    else:
        inits.append(_const("frequency", 0.05, np.float32))
    nodes += _audio_nodes("input", "count_scale", "frequency", "output")
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                           ["batch_size", 1, 1, "time"])
    path = directory / f"{name}.onnx"
    _save(helper.make_graph(nodes, "tiny_random_piper", inputs, [output], inits), path)

    names = speaker_names or [f"speaker_{i}" for i in range(num_speakers)]
    config = {
        "dataset": name,
        "audio": {"sample_rate": sample_rate, "quality": "x_low"},
        "espeak": {"voice": "en-us"},
        "language": {"code": "en_US"},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": {k: list(v) for k, v in DEFAULT_PHONEME_ID_MAP.items()},
        "num_symbols": num_symbols,
        "num_speakers": num_speakers,
        "speaker_id_map": {n: i for i, n in enumerate(names)} if num_speakers > 1 else {},
        "piper_version": "1.0.0",
    }
    path.with_name(path.name + ".json").write_text(json.dumps(config, ensure_ascii=False),
                                                   encoding="utf-8")
    return path


def build_kokoro_model(path: Path, *, seed: int = 0) -> Path:
    """Write a random graph shaped like ``kokoro-v1.0.onnx`` to ``path``."""
    rng = np.random.default_rng(seed)
    inputs = [
        helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, "tokens1"]),
        helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 256]),
        helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1]),
    ]
    nodes = [
        helper.make_node("Squeeze", ["speed", "zero_axes"], ["speed_0"]),
        helper.make_node("Div", ["samples_per_token", "speed_0"], ["count_scale"]),
        # The style sets the pitch: 0.03 plus its mean's distance from 0, scaled.
        helper.make_node("ReduceMean", ["style"], ["style_mean"], keepdims=0),
        helper.make_node("Abs", ["style_mean"], ["style_abs"]),
        helper.make_node("Mul", ["style_abs", "pitch_spread"], ["pitch_offset"]),
        helper.make_node("Add", ["pitch_offset", "base_pitch"], ["frequency"]),
    ]
    inits = [*_common_initializers(rng, KOKORO_VOCAB_SIZE, rank=2),
             _const("samples_per_token", float(KOKORO_SAMPLES_PER_TOKEN), np.float32),
             _const("pitch_spread", 0.1, np.float32),
             _const("base_pitch", 0.03, np.float32),
             _const("out_shape", [-1], np.int64)]
    nodes += _audio_nodes("tokens", "count_scale", "frequency", "audio")
    output = helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["audio0"])
    _save(helper.make_graph(nodes, "tiny_random_kokoro", inputs, [output], inits), path)
    return path


def build_kokoro_voices(path: Path, names: list[str], *, seed: int = 0) -> Path:
    """Write a voices file (npz, whatever the suffix) of random styles, each with its own mean
    so that each voice sounds different through ``build_kokoro_model``."""
    rng = np.random.default_rng(seed)
    styles = {name: (rng.normal(0.0, 0.05, KOKORO_STYLE_SHAPE) + 0.1 * (i + 1))
              .astype(np.float32) for i, name in enumerate(names)}
    with path.open("wb") as f:  # np.savez would append .npz to a path
        np.savez(f, **styles)  # type: ignore[arg-type]
    return path


class Gate:
    """A seam for cancellation tests: wraps a blocking library function, lets the first ``free``
    calls through and holds each later one until ``opened`` is set; counts every call."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0
        self.holding = threading.Event()
        self.opened = threading.Event()
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def gated(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
                held = self.calls > self.free
            if held:
                self.holding.set()
                if not self.opened.wait(GATE_TIMEOUT):
                    raise TimeoutError("the test never opened the gate")
            return fn(*args, **kwargs)

        return gated


async def check_cancel_stops_after_the_running_sentence(synth: Any, gate: Gate, text: str,
                                                         wait: float) -> None:
    """With ``gate`` holding every model run after the first: the first sentence comes out,
    the consumer is cancelled while the second is being made, and no third run starts."""
    stream = synth.synthesize(SpeechRequest(text, "alloy"))
    assert await asyncio.wait_for(anext(stream), wait)
    second = asyncio.ensure_future(anext(stream))
    assert await asyncio.to_thread(gate.holding.wait, wait)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    gate.opened.set()
    await asyncio.wait_for(synth.aclose(), wait)  # waits for the run in progress
    assert gate.calls == 2
