"""Figures and a table for storage-budget sweeps (sweeps/repro_budget*.ini): mixed precision
chosen per tensor under a budget of B bits per weight, against uniform quantizers.

    python3 -m analysis.budget results/repro_budget [results/repro_budget_finetune] --out DIR

writes DIR/budget_vs_bits.png (total squared residual, and perplexity after fine-tuning when
given, against bits per weight: a line per method through the budget points, uniform points as
separate markers), DIR/allocation_heatmap.png (layer x projection type -> bits chosen, a panel
per budget) and DIR/budget.md (the numbers behind both).

Bits per weight are the exact storage of the selected tensors (metric alloc_bits_per_weight) for
budget points and the registry's bits_per_weight for uniform ones (exact for them: no :dq).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .load import load  # noqa: E402
from .plots import _save, colour  # noqa: E402

PROJ_ORDER = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def summarise(path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per complete point: method, quant, kind (budget/uniform), bits, total residual
    (sum over tensors of ||W - Q - sBA||_F^2), and the metrics; and the tensors table."""
    res = load(path)
    pts = res.points[res.points["status"] == "complete"].copy()
    tens = res.tensors
    pts["kind"] = np.where(pts["quant"].astype(str).str.startswith("budget"), "budget", "uniform")
    # Points written before alloc_bits_per_weight existed fall back to the budget itself (the
    # allocation reaches it to within a few bits over the whole model).
    budget = pd.to_numeric(pts["quant"].astype(str).str.extract(r"^budget:([0-9.]+)")[0],
                           errors="coerce")
    bits = pts["alloc_bits_per_weight"] if "alloc_bits_per_weight" in pts else budget
    pts["bits"] = np.where(pts["kind"] == "budget", bits.fillna(budget), pts["bits_per_weight"])
    if "residual_fro" in tens:
        total = (tens.assign(sq=tens["residual_fro"] ** 2).groupby("id")["sq"].sum())
        pts["total_residual"] = pts["id"].map(total)
    return pts.sort_values(["method", "kind", "bits"]), tens


def _curve(ax, pts, value, ylabel, log=False):
    for method, g in pts.groupby("method"):
        b = g[g["kind"] == "budget"]
        u = g[g["kind"] == "uniform"]
        ax.plot(b["bits"], b[value], "-o", color=colour(method), label=f"{method} budget")
        ax.plot(u["bits"], u[value], "s", color=colour(method), mfc="none", ms=9,
                label=f"{method} uniform nf2/3/4")
    ax.set_xlabel("bits per weight (exact storage)")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_vs_bits(res_pts, ft_pts, path) -> Path:
    n = 1 + (ft_pts is not None)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.8), squeeze=False)
    _curve(axes[0][0], res_pts, "total_residual", "sum of ||W - Q - sBA||_F^2", log=True)
    axes[0][0].set_title("weight residual at init")
    if ft_pts is not None:
        _curve(axes[0][1], ft_pts, "ppl_final", "perplexity after fine-tuning")
        axes[0][1].set_title("after LoRA fine-tuning")
    return _save(fig, path)


def plot_heatmap(tens, pts, path, method="loftq") -> Path | None:
    budgets = pts[(pts["kind"] == "budget") & (pts["method"] == method)].sort_values("bits")
    if budgets.empty or "alloc_bits" not in tens:
        return None
    fig, axes = plt.subplots(1, len(budgets), figsize=(3.2 * len(budgets), 3.2), squeeze=False)
    for ax, (_, p) in zip(axes[0], budgets.iterrows()):
        t = tens[tens["id"] == p["id"]]
        grid = t.pivot_table(index="layer", columns="proj", values="alloc_bits")
        grid = grid[[c for c in PROJ_ORDER if c in grid.columns]]
        im = ax.imshow(grid.values, vmin=2, vmax=8.5, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(grid.columns)))
        ax.set_xticklabels([c.replace("_proj", "") for c in grid.columns], fontsize=7)
        ax.set_yticks(range(len(grid.index)))
        ax.set_yticklabels(grid.index)
        for (i, j), v in np.ndenumerate(grid.values):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w")
        ax.set_title(f"{p['quant']} ({p['bits']:.3f})", fontsize=8)
        ax.set_ylabel("layer")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="bits per weight")
    fig.suptitle(f"{method}: bits chosen per tensor")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def table(res_pts, ft_pts) -> str:
    cols = ["method", "quant", "bits", "total_residual", "mean_residual_rel", "alloc_gap",
            "alloc_proxy_disagreements"]
    t = res_pts[[c for c in cols if c in res_pts]].copy()
    if ft_pts is not None:
        ft = ft_pts.set_index(["method", "quant"])
        for c in ("ppl_init", "ppl_final"):
            t[c] = [ft[c].get((m, q), np.nan) for m, q in zip(t["method"], t["quant"])]
    def fmt(v):
        return v if isinstance(v, str) else ("" if pd.isna(v) else f"{v:.4g}")
    lines = ["| " + " | ".join(t.columns) + " |", "|" + "|".join(["---"] * len(t.columns)) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("residual", help="results of sweeps/repro_budget.ini")
    ap.add_argument("finetune", nargs="?", help="results of sweeps/repro_budget_finetune.ini")
    ap.add_argument("--out", required=True, help="folder for the figures and budget.md")
    a = ap.parse_args(argv)
    out = Path(a.out)
    res_pts, tens = summarise(a.residual)
    ft_pts = summarise(a.finetune)[0] if a.finetune else None
    plot_vs_bits(res_pts, ft_pts, out / "budget_vs_bits.png")
    plot_heatmap(tens, res_pts, out / "allocation_heatmap.png")
    text = table(res_pts, ft_pts)
    out.mkdir(parents=True, exist_ok=True)
    (out / "budget.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
