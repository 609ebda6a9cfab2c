#!/usr/bin/python3
"""LoftQ (Alg. 1) in PyTorch, written as PEFT's loftq_utils and the official LoftQ code do it:
NormalFloat table from create_normal_map, blockwise absmax scaling, argmin over the table, and a
full torch.linalg.svd of the residual every step. The reference that bench/compare_loftq.sh
times loftlab against; prints one JSON object like `loftlab init-matrix`.

usage: torch_loftq.py --npy W.npy [--bits 2] [--rank 64] [--steps 5] [--block 64] [--threads 2]
"""
import argparse
import json
import time

import numpy as np
import torch


def create_normal_map(offset=0.9677083, num_bits=2):
    # LoftQ's asymmetric NormalFloat: float32 linspace, float64 inverse normal CDF, then float32.
    variations = 2**num_bits
    ppf = lambda p: torch.special.ndtri(p.double())
    v1 = ppf(torch.linspace(offset, 0.5, variations // 2 + 1)[:-1]).tolist()
    v3 = (-ppf(torch.linspace(offset, 0.5, variations // 2)[:-1])).tolist()
    values = torch.tensor(v1 + [0.0] + v3, dtype=torch.float32).sort().values
    return values / values.max()


def fake_quantize(weight, table, block):
    blocks = weight.reshape(-1, block)
    absmax = blocks.abs().max(dim=-1, keepdim=True).values
    normed = (blocks / absmax).unsqueeze(-1)
    codes = torch.argmin(torch.abs(normed - table.reshape(1, -1)), dim=-1)
    return (table[codes] * absmax).reshape(weight.shape)


def low_rank(res, rank):
    u, s, vh = torch.linalg.svd(res, full_matrices=False)
    root = torch.sqrt(s[:rank])
    return u[:, :rank] * root, root.unsqueeze(1) * vh[:rank]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--npy", required=True)
    p.add_argument("--bits", type=int, default=2)
    p.add_argument("--rank", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    weight = torch.from_numpy(np.load(a.npy).astype(np.float32))
    table = create_normal_map(num_bits=a.bits)
    w64 = weight.double()
    fro, seconds = [], []
    start = time.perf_counter()
    res = weight
    for step in range(a.steps):
        deq = fake_quantize(res, table, a.block)
        res = weight - deq
        if step == 0:  # t = 0: quantisation alone, QLoRA's error
            fro.append(torch.linalg.norm(w64 - deq.double()).item())
            seconds.append(time.perf_counter() - start)
        lora_b, lora_a = low_rank(res, a.rank)
        res = weight - lora_b @ lora_a
        fro.append(torch.linalg.norm((res - deq).double()).item())
        seconds.append(time.perf_counter() - start)
    norm_w = torch.linalg.norm(w64).item()
    print(json.dumps({"impl": "torch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "shape": list(weight.shape), "bits": a.bits, "rank": a.rank,
                      "steps": a.steps, "residual_fro": fro,
                      "residual_rel": [f / norm_w for f in fro], "seconds": seconds}))


if __name__ == "__main__":
    main()
