#!/usr/bin/python3
"""The PyTorch reference for bench/compare_train.sh: LoRA fine-tuning throughput of stories260K.

The same model (llama2.c checkpoint: RMSNorm, adjacent-pair RoPE, grouped-query attention,
SwiGLU, tied embeddings), the same adapters (rank R on q, k, v, o, gate, up, down; base frozen),
the same step (forward, mean cross-entropy, backward, global-norm clipping, AdamW) on batches of
B x T tokens, written the way a PyTorch user would (nn.Module; F.scaled_dot_product_attention
where available, else masked softmax attention as nanoGPT).
Prints one line: tokens/s over the timed steps.

usage: torch_train.py CHECKPOINT [--batch 16] [--seq 256] [--rank 8] [--steps 5] [--threads 2]
"""
import argparse
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def load_llama2c(path):
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("7i", f.read(28))
        data = np.frombuffer(f.read(), dtype=np.float32)
    hs, kv = dim // heads, kv_heads * (dim // heads)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        out = torch.from_numpy(data[off:off + n].copy()).reshape(shape)
        off += n
        return out

    w = {"emb": take(abs(vocab), dim), "rms_att": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv, dim), "wv": take(layers, kv, dim), "wo": take(layers, dim, dim),
         "rms_ffn": take(layers, dim), "w1": take(layers, hidden, dim),
         "w2": take(layers, dim, hidden), "w3": take(layers, hidden, dim), "rms_final": take(dim)}
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
               vocab=abs(vocab), seq_len=seq_len, hs=hs)
    return cfg, w


class LoraLinear(nn.Module):
    def __init__(self, weight, rank, alpha):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        out_f, in_f = weight.shape
        self.A = nn.Parameter(torch.empty(rank, in_f).uniform_(-in_f ** -0.5, in_f ** -0.5))
        self.B = nn.Parameter(torch.zeros(out_f, rank))
        self.scale = alpha / rank

    def forward(self, x):
        return F.linear(x, self.weight) + self.scale * F.linear(F.linear(x, self.A), self.B)


class RMSNorm(nn.Module):
    def __init__(self, w, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(w.clone(), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):
    # x: (B, H, T, hs); rotate adjacent pairs (2i, 2i+1) as llama2.c does.
    xr = x.reshape(*x.shape[:-1], -1, 2)
    a, b = xr[..., 0], xr[..., 1]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


def attention(q, k, v):
    # F.scaled_dot_product_attention when this torch has it (>= 2.0), else nanoGPT's fallback.
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    T = q.shape[-2]
    att = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return att @ v


class Block(nn.Module):
    def __init__(self, cfg, w, i, rank, alpha):
        super().__init__()
        self.cfg = cfg
        lin = lambda name: LoraLinear(w[name][i].clone(), rank, alpha)
        self.q, self.k, self.v, self.o = lin("wq"), lin("wk"), lin("wv"), lin("wo")
        self.gate, self.down, self.up = lin("w1"), lin("w2"), lin("w3")
        self.n1, self.n2 = RMSNorm(w["rms_att"][i]), RMSNorm(w["rms_ffn"][i])

    def forward(self, x, cos, sin):
        c = self.cfg
        B, T, D = x.shape
        h = self.n1(x)
        q = self.q(h).view(B, T, c["heads"], c["hs"]).transpose(1, 2)
        k = self.k(h).view(B, T, c["kv_heads"], c["hs"]).transpose(1, 2)
        v = self.v(h).view(B, T, c["kv_heads"], c["hs"]).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = c["heads"] // c["kv_heads"]
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        a = attention(q, k, v)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, D))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, cfg, w, rank, alpha):
        super().__init__()
        self.emb = nn.Parameter(w["emb"].clone(), requires_grad=False)
        self.blocks = nn.ModuleList(Block(cfg, w, i, rank, alpha) for i in range(cfg["layers"]))
        self.norm = RMSNorm(w["rms_final"])
        hs = cfg["hs"]
        freqs = 1.0 / (10000.0 ** (torch.arange(0, hs, 2).float() / hs))
        ang = torch.outer(torch.arange(cfg["seq_len"]).float(), freqs)
        self.register_buffer("cos", ang.cos())
        self.register_buffer("sin", ang.sin())

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = F.embedding(idx, self.emb)
        cos, sin = self.cos[:T], self.sin[:T]
        for b in self.blocks:
            x = b(x, cos, sin)
        logits = F.linear(self.norm(x), self.emb)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg, w = load_llama2c(args.checkpoint)
    model = Llama(cfg, w, args.rank, args.alpha)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    data = torch.randint(3, cfg["vocab"], (args.batch, args.seq + 1), generator=gen)
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    dt = time.perf_counter() - t0
    tps = args.batch * args.seq * args.steps / dt
    print(f"torch {torch.__version__} threads {args.threads}: {tps:.0f} tokens/s "
          f"({dt / args.steps * 1000:.1f} ms/step, loss {loss:.3f})")


if __name__ == "__main__":
    main()
