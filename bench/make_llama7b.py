#!/usr/bin/python3
"""Writes a Hugging Face folder shaped like Llama-2-7B (bf16, sharded safetensors), for timing
whole-model runs. Weights are synthetic and seeded: a heavy-tailed part (a Gaussian scale
mixture: z * exp(0.35 z'), kurtosis about 5) plus a low-rank part with decaying singular values,
scaled to std 0.02, so that quantisation errors and LoRA spectra look like a trained model's
rather than white noise. Every tensor is drawn from its own seed (base seed + name), so a tensor
does not depend on the order or on the number of layers.

The folder is streamed: tensors are drawn and written a block of rows at a time (peak memory
about 0.5 GB), never held whole. The full model needs 13.5 GB of free disk (6.74e9 parameters x
2 bytes); --layers 2 needs 1.4 GB. Takes some 10-20 minutes on 2 cores for 32 layers.

usage: make_llama7b.py OUT [--layers 32] [--seed 0] [--shard-gb 5] [--force]
"""
import argparse
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np

DIM, FFN, VOCAB, HEADS = 4096, 11008, 32000, 32
ROW_BLOCK = 1024
LOW_RANK, DECAY = 32, 0.85


def tensor_list(layers):
    """(name, shape) in the order Hugging Face writes Llama checkpoints."""
    out = [("model.embed_tokens.weight", (VOCAB, DIM))]
    for i in range(layers):
        p = f"model.layers.{i}."
        out += [
            (p + "self_attn.q_proj.weight", (DIM, DIM)),
            (p + "self_attn.k_proj.weight", (DIM, DIM)),
            (p + "self_attn.v_proj.weight", (DIM, DIM)),
            (p + "self_attn.o_proj.weight", (DIM, DIM)),
            (p + "mlp.gate_proj.weight", (FFN, DIM)),
            (p + "mlp.up_proj.weight", (FFN, DIM)),
            (p + "mlp.down_proj.weight", (DIM, FFN)),
            (p + "input_layernorm.weight", (DIM,)),
            (p + "post_attention_layernorm.weight", (DIM,)),
        ]
    out += [("model.norm.weight", (DIM,)), ("lm_head.weight", (VOCAB, DIM))]
    return out


def to_bf16(x):
    """float32 -> bfloat16 bits, round to nearest even (what torch's .to(bfloat16) does)."""
    u = x.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def blocks(name, shape, seed):
    """Yields the tensor's rows as bf16 blocks, drawn from a seed of its own."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if len(shape) == 1:  # norms: near 1, as trained RMSNorm gains are
        yield to_bf16(1.0 + 0.05 * rng.standard_normal(shape[0], dtype=np.float32))
        return
    rows, cols = shape
    # Low-rank part: U diag(s) V^T with s_i = DECAY^i, normalised so it carries about a quarter
    # of the variance; the rest is the heavy-tailed part.
    s = (DECAY ** np.arange(LOW_RANK)).astype(np.float32)
    s *= np.float32(0.5 * np.sqrt(rows * cols / np.sum(s * s)))
    u = rng.standard_normal((rows, LOW_RANK), dtype=np.float32) / np.float32(np.sqrt(rows))
    v = rng.standard_normal((LOW_RANK, cols), dtype=np.float32) / np.float32(np.sqrt(cols))
    sv = s[:, None] * v
    tail_scale = np.float32(np.sqrt(0.75) / np.exp(0.35**2))  # E[exp(0.7 z')] = exp(0.245)
    for r0 in range(0, rows, ROW_BLOCK):
        n = min(ROW_BLOCK, rows - r0)
        z = rng.standard_normal((n, cols), dtype=np.float32)
        z *= np.exp(np.float32(0.35) * rng.standard_normal((n, cols), dtype=np.float32))
        z *= tail_scale
        z += u[r0 : r0 + n] @ sv
        z *= np.float32(0.02)
        yield to_bf16(z)


def shard_plan(tensors, shard_bytes):
    shards, cur, size = [], [], 0
    for name, shape in tensors:
        nbytes = 2 * int(np.prod(shape))
        if cur and size + nbytes > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, shape))
        size += nbytes
    shards.append(cur)
    return shards


def write_shard(path, tensors, seed):
    header, offset = {}, 0
    for name, shape in tensors:
        nbytes = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in tensors:
            for block in blocks(name, shape, seed):
                f.write(block.tobytes())
            print(f"  {name} {shape}", file=sys.stderr, flush=True)
    return offset


def config(layers):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": DIM,
        "intermediate_size": FFN,
        "num_hidden_layers": layers,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "vocab_size": VOCAB,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard-gb", type=float, default=5.0)
    p.add_argument("--force", action="store_true", help="replace an existing OUT")
    a = p.parse_args()
    if a.layers < 1:
        sys.exit(f"make_llama7b: --layers {a.layers}: must be at least 1")
    tensors = tensor_list(a.layers)
    total = 2 * sum(int(np.prod(s)) for _, s in tensors)
    if os.path.exists(a.out) and not a.force:
        sys.exit(f"make_llama7b: {a.out} exists (pass --force to replace it)")
    parent = os.path.dirname(os.path.abspath(a.out))
    free = shutil.disk_usage(parent).free
    if free < total * 1.05:
        sys.exit(f"make_llama7b: {parent} has {free / 1e9:.1f} GB free, {total / 1e9:.1f} GB needed")
    # Built beside OUT and renamed at the end: OUT exists only complete.
    staging = a.out.rstrip("/") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    shards = shard_plan(tensors, int(a.shard_gb * 1e9))
    weight_map = {}
    for i, group in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        print(f"{fname}: {len(group)} tensors", file=sys.stderr, flush=True)
        write_shard(os.path.join(staging, fname), group, a.seed)
        weight_map.update({name: fname for name, _ in group})
    with open(os.path.join(staging, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(staging, "config.json"), "w") as f:
        json.dump(config(a.layers), f, indent=2)
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.rename(staging, a.out)
    params = total // 2
    print(f"{a.out}: {params / 1e9:.2f}e9 parameters, {total / 1e9:.1f} GB, {len(shards)} shards")


if __name__ == "__main__":
    main()
