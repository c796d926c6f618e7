"""A tiny Whisper model with RANDOM weights, in CTranslate2's format, for tests only.

It is built the way ``ct2-transformers-converter`` builds a real one: a ``WhisperSpec`` filled
layer by layer, then ``spec.save`` (model.bin, config.json, vocabulary.json), with the
``tokenizer.json`` and ``preprocessor_config.json`` the converter copies beside it, but the
weights come from numpy's random generator instead of a checkpoint. No torch, no hub.

The token layout is Whisper's multilingual one (51,865 ids: 50,257 byte-level BPE text tokens,
then <|endoftext|>, <|startoftranscript|>, 99 languages, the task tokens, <|notimestamps|> and
1,501 timestamps), so CTranslate2 treats the model as multilingual and detects languages. Text
tokens are made-up lowercase strings: what the model "hears" is gibberish, by construction.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tokenizers
from ctranslate2.specs import attention_spec, common_spec, transformer_spec, whisper_spec

# Whisper's language tokens, in its token order (<|en|> is id 50259, as in the real models).
LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su").split()
TEXT_TOKENS = 50257
EOT = TEXT_TOKENS
SOT = EOT + 1
TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>
N_MELS = 80
AUDIO_CTX = 1500  # encoder positions: 30 s of 10 ms mel frames, halved by conv2's stride
TEXT_CTX = 448


def _byte_alphabet() -> list[str]:
    """GPT-2's byte-level alphabet, in its id order (the space byte is "Ġ", id 220)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    shifted = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(shifted))]


def _made_up_words() -> Iterator[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    for size in itertools.count(2):
        for chars in itertools.product(letters, repeat=size):
            word = "".join(chars)
            yield "Ġ" + word  # a word with its leading space, as BPE vocabularies hold them
            yield word


def vocabulary() -> list[str]:
    text = _byte_alphabet()
    text += itertools.islice(_made_up_words(), TEXT_TOKENS - len(text) - 1)
    # CTranslate2 (4.x) tells a multilingual Whisper from an English-only one by an empty
    # token in its vocabulary: without it, no language detection and no language tokens.
    text.append("")
    special = ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES),
               "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
               "<|nocaptions|>", "<|notimestamps|>"]
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)]
    return text + special + stamps


def _tokenizer(tokens: list[str]) -> tokenizers.Tokenizer:
    vocab = {token: i for i, token in enumerate(tokens[:TEXT_TOKENS])}
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.add_special_tokens([tokenizers.AddedToken(t, special=True)
                            for t in tokens[TEXT_TOKENS:]])
    return tok


class _Weights:
    def __init__(self, seed: int, scale: float) -> None:
        self._rng = np.random.default_rng(seed)
        self._scale = scale

    def __call__(self, *shape: int) -> npt.NDArray[np.float32]:
        return (self._rng.standard_normal(shape) * self._scale).astype(np.float32)

    def linear(self, spec: common_spec.LinearSpec, out: int, inp: int) -> None:
        spec.weight = self(out, inp)
        spec.bias = self(out)

    def norm(self, spec: common_spec.LayerNormSpec, dim: int) -> None:
        spec.gamma = np.ones(dim, dtype=np.float32)
        spec.beta = np.zeros(dim, dtype=np.float32)

    def attention(self, spec: attention_spec.MultiHeadAttentionSpec,
                  dim: int, cross: bool = False) -> None:
        self.norm(spec.layer_norm, dim)
        if cross:  # queries from the text, fused keys and values from the audio
            self.linear(spec.linear[0], dim, dim)
            self.linear(spec.linear[1], 2 * dim, dim)
        else:  # fused queries, keys and values
            self.linear(spec.linear[0], 3 * dim, dim)
        self.linear(spec.linear[-1], dim, dim)

    def ffn(self, spec: transformer_spec.FeedForwardSpec, dim: int) -> None:
        self.norm(spec.layer_norm, dim)
        self.linear(spec.linear_0, 4 * dim, dim)
        self.linear(spec.linear_1, dim, 4 * dim)


def build(out: Path, *, dim: int = 64, heads: int = 2, layers: int = 2, seed: int = 0,
          scale: float = 2.0) -> Path:
    """Write a random tiny Whisper model into ``out`` (created) and return ``out``.

    Weights this large make the random decoder sure of its (meaningless) picks, so
    faster-whisper accepts its first decoding of a window instead of retrying it at five
    higher temperatures: a few seconds of speech decode in well under a second.
    """
    tokens = vocabulary()
    w = _Weights(seed, scale)
    spec = whisper_spec.WhisperSpec(layers, heads, layers, heads)

    enc = spec.encoder
    enc.conv1.weight, enc.conv1.bias = w(dim, N_MELS, 3), w(dim)
    enc.conv2.weight, enc.conv2.bias = w(dim, dim, 3), w(dim)
    enc.position_encodings.encodings = w(AUDIO_CTX, dim)
    w.norm(enc.layer_norm, dim)
    for layer in enc.layer:
        w.attention(layer.self_attention, dim)
        w.ffn(layer.ffn, dim)

    dec = spec.decoder
    dec.embeddings.weight = w(len(tokens), dim)
    dec.position_encodings.encodings = w(TEXT_CTX, dim)
    w.norm(dec.layer_norm, dim)
    dec.projection.weight = dec.embeddings.weight  # tied, as in Whisper (saved as an alias)
    for layer in dec.layer:
        w.attention(layer.self_attention, dim)
        w.attention(layer.attention, dim, cross=True)
        w.ffn(layer.ffn, dim)

    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [220, EOT]  # a lone space or an empty transcript
    spec.config.lang_ids = list(range(SOT + 1, SOT + 1 + len(LANGUAGES)))
    spec.config.alignment_heads = [[layer, head] for layer in range(layers // 2, layers)
                                   for head in range(heads)]
    spec.register_vocabulary(tokens)
    spec.validate()
    spec.optimize()

    out.mkdir(parents=True, exist_ok=True)
    spec.save(str(out))
    _tokenizer(tokens).save(str(out / "tokenizer.json"))
    (out / "preprocessor_config.json").write_text(json.dumps({
        "feature_size": N_MELS, "sampling_rate": 16000, "hop_length": 160,
        "chunk_length": 30, "n_fft": 400}))
    return out
