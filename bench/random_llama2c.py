"""Writes a llama2.c checkpoint of random weights (N(0, 0.02), unit norms, shared classifier) of a
given shape, for throughput benchmarks at shapes no small real checkpoint has.

    /usr/bin/python3 bench/random_llama2c.py OUT.bin --dim 288 --layers 6 --heads 6 --hidden 768
"""
import argparse
import os
import struct
import tempfile

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--dim", type=int, default=288)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=0, help="0: as many as heads")
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    kvh = a.kv_heads or a.heads
    if a.dim % a.heads or a.heads % kvh:
        ap.error(f"dim {a.dim}, heads {a.heads}, kv heads {kvh}: dim % heads and heads % kv heads "
                 "must be 0")
    hs, kv, L = a.dim // a.heads, kvh * (a.dim // a.heads), a.layers
    rng = np.random.default_rng(a.seed)
    w = lambda *shape: (rng.standard_normal(shape) * 0.02).astype(np.float32)  # noqa: E731
    ones = lambda *shape: np.ones(shape, np.float32)  # noqa: E731
    # llama2.c order: embeddings, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, and
    # the legacy RoPE tables (seq_len x head_size / 2, twice).
    parts = [w(a.vocab, a.dim), ones(L, a.dim), w(L, a.dim, a.dim), w(L, kv, a.dim),
             w(L, kv, a.dim), w(L, a.dim, a.dim), ones(L, a.dim), w(L, a.hidden, a.dim),
             w(L, a.dim, a.hidden), w(L, a.hidden, a.dim), ones(a.dim),
             np.zeros(a.seq_len * hs, np.float32)]
    header = struct.pack("7i", a.dim, a.hidden, L, a.heads, kvh, a.vocab, a.seq_len)
    folder = os.path.dirname(os.path.abspath(a.out))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".random_llama2c.")
    with os.fdopen(fd, "wb") as f:  # written beside, then renamed: never half a checkpoint
        f.write(header)
        for p in parts:
            f.write(p.tobytes())
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
