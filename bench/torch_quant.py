#!/usr/bin/python3
"""The PyTorch formulation of blockwise quantisation that PEFT's LoftQ utilities and LoftQ's
released code use: absmax per block of 64, then argmin |x / absmax - table| over the table
(a [blocks, 64, levels] tensor), then table[code] * absmax. Times quantise + dequantise of a
4096x4096 float32 matrix and prints one line per spec:

    torch_argmin <spec> threads=<n> seconds=<median> gbps=<float32 input GB/s>

Usage: /usr/bin/python3 bench/torch_quant.py [--threads 2] [--repeats 5] [spec ...]
(specs: nf2 nf4 int4 fp4; default nf4)."""
import argparse
import statistics
import time

import torch

NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
       -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
       0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
       0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]
FP4 = [0.0, 0.0052083333, 0.6666667, 1.0, 0.3333333, 0.5, 0.1666667, 0.25]
TABLES = {
    "nf2": [-1.0, 0.0, 0.33791524171829224, 1.0],
    "nf4": NF4,
    "int4": [c / 7 for c in range(-7, 8)],
    "fp4": FP4 + [-v for v in FP4],
}


def quantize_dequantize(x, table, block=64):
    flat = x.flatten().reshape(-1, block)
    absmax = flat.abs().max(dim=-1, keepdim=True)[0]
    normed = (flat / absmax).unsqueeze(-1)
    codes = torch.argmin(torch.abs(normed - table.reshape(1, -1)), dim=-1).to(torch.uint8)
    return (table[codes.long()] * absmax).reshape(x.shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("specs", nargs="*", default=["nf4"], choices=sorted(TABLES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 4096, generator=gen) * 0.02
    for spec in args.specs:
        table = torch.tensor(TABLES[spec], dtype=torch.float32)
        quantize_dequantize(x, table)  # warm up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            y = quantize_dequantize(x, table)
            times.append(time.perf_counter() - t0)
        del y
        med = statistics.median(times)
        print(f"torch_argmin {spec} threads={args.threads} seconds={med:.4f} "
              f"gbps={x.numel() * 4 / med / 1e9:.4f}", flush=True)


if __name__ == "__main__":
    main()
