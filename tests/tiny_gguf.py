"""A tiny llama-architecture GGUF with RANDOM weights, for tests only: it loads and generates
in milliseconds and its output is gibberish.

Its tokenizer is byte-level BPE ("gpt2"): the 256 byte tokens, two merges and the ChatML special
tokens, with a chat template in ``tokenizer.chat_template``. One residual dimension is pinned so
the output layer can steer sampling however random the rest is: the stream's dimension 0 is the
same constant for every token and no layer writes to it, so after the final norm it is always
positive, and a token whose output row is strongly negative there is never sampled. That keeps
generated text to printable ASCII and lets a test choose whether the model never stops
(``stop_at_once=False``: it always runs to ``max_tokens``) or stops at its first token.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

EMBED = 64
HEADS = 4
LAYERS = 2
FFN = 128
CONTEXT = 4096  # what it claims to be trained for: no warning at the engine's default n_ctx
PIN = 8.0  # the weight on the pinned dimension that bans (or forces) a token

BOS, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message.role }}\n"
    "{% if message.content %}{{ message.content }}{% endif %}"
    "{% for call in message.tool_calls or [] %}"
    "<tool_call>{{ call.function.name }} {{ call.function.arguments }}</tool_call>"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_chars() -> list[str]:
    """GPT-2's byte -> printable character table, which byte-level BPE vocabularies use."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _vocab() -> tuple[list[str], list[int], list[str], set[int]]:
    """Tokens, their types, the merges, and the ids a generation may produce."""
    chars = _byte_chars()
    merges = [f"{chars[ord('h')]} {chars[ord('e')]}", f"{chars[ord(' ')]} {chars[ord('t')]}"]
    tokens = [*chars, *(m.replace(" ", "") for m in merges), BOS, IM_START, IM_END]
    types = [gguf.TokenType.NORMAL] * (len(tokens) - 3) + [gguf.TokenType.CONTROL] * 3
    allowed = {*range(0x20, 0x7F), 256, 257}  # printable ASCII and the two merged tokens
    return tokens, [int(t) for t in types], merges, allowed


def write_tiny_gguf(path: Path, *, stop_at_once: bool = False, seed: int = 0) -> Path:
    """Write the random test model to ``path``: it never stops by itself, or with
    ``stop_at_once`` it ends every answer at its first token."""
    tokens, types, merges, allowed = _vocab()
    vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def rand(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.02, shape).astype(np.float32)

    embed = rand(vocab, EMBED)
    embed[:, 0] = 1.0
    output = rand(vocab, EMBED)
    output[:, 0] = [0.0 if t in allowed else -PIN for t in range(vocab)]
    if stop_at_once:
        output[tokens.index(IM_END), 0] = PIN
    tensors = {"token_embd.weight": embed, "output.weight": output,
               "output_norm.weight": np.ones(EMBED, np.float32)}
    for i in range(LAYERS):
        attn_out, ffn_down = rand(EMBED, EMBED), rand(EMBED, FFN)
        attn_out[0] = ffn_down[0] = 0.0  # nothing writes to the pinned dimension
        tensors |= {
            f"blk.{i}.attn_norm.weight": np.ones(EMBED, np.float32),
            f"blk.{i}.attn_q.weight": rand(EMBED, EMBED),
            f"blk.{i}.attn_k.weight": rand(EMBED, EMBED),
            f"blk.{i}.attn_v.weight": rand(EMBED, EMBED),
            f"blk.{i}.attn_output.weight": attn_out,
            f"blk.{i}.ffn_norm.weight": np.ones(EMBED, np.float32),
            f"blk.{i}.ffn_gate.weight": rand(FFN, EMBED),
            f"blk.{i}.ffn_up.weight": rand(FFN, EMBED),
            f"blk.{i}.ffn_down.weight": ffn_down,
        }

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("openrealtime tiny RANDOM test model")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(EMBED // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index(BOS))
    writer.add_eos_token_id(tokens.index(IM_END))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    for name, tensor in tensors.items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
