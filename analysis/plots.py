"""PNG figures from loaded results (matplotlib, Agg backend: no display needed).

    residual_vs_T        discrepancy against alternating steps T, one panel per quantizer, a
                         line per method and rank (LoftQ at T = 0 is QLoRA)
    discrepancy_by_layer discrepancy of each layer, QLoRA against each method and T
    error_reduction_vs_rank  error reduction vs QLoRA against rank, a panel per quantizer
    ppl_vs_bits          perplexity after fine-tuning against bits, a line per method;
                         unquantised baselines as horizontal lines, diverged runs marked
    training_curves      training loss against step, a panel per quantizer
    accuracy_curves      validation accuracy against step (classify), a panel per task

Each function writes one PNG and returns its path, or returns None when the data it needs are
absent. Every point with status "complete" is used; seeds are averaged.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .tables import _natural, complete, label, with_T  # noqa: E402

# One colour per method across every figure, so a reader can compare figures at a glance.
METHOD_COLOURS = {"qlora": "tab:red", "loftq": "tab:blue", "qpissa": "tab:green",
                  "lora": "tab:gray", "full": "black"}
_OTHER = ["tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
_STYLES = ["-", "--", ":", "-."]
_MARKERS = ["o", "s", "^", "D", "v", "P"]


def colour(method: str) -> str:
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    return _OTHER[sum(map(ord, method)) % len(_OTHER)]


def _panels(n: int, width: float = 4.2, height: float = 3.4):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


_RESIDUAL = "||W - Q - sBA||_F / ||W||_F"


def _decorate(ax, title, xlabel, ylabel, xticks=None, legend_size=7):
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xticks is not None:
        ax.set_xticks(xticks)
        ax.set_xticklabels([label(x) for x in xticks])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suptitle (when there is one) clear of the top panels' titles in tall figures.
    top = 1.0 - 0.15 / fig.get_figheight() if fig._suptitle is not None else 1.0
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _sorted(values):
    return sorted({v for v in values if not (isinstance(v, float) and math.isnan(v))},
                  key=_natural)


def residual_vs_T(points: pd.DataFrame, path, value: str = "mean_residual_rel") -> Path | None:
    df = complete(points)
    if df.empty or value not in df or "quant" not in df or df[value].dropna().empty:
        return None
    df = with_T(df[df[value].notna()])
    if df["T"].nunique() < 2:
        return None
    quants = _sorted(df["quant"])
    fig, axes = _panels(len(quants))
    for ax, q in zip(axes, quants):
        d = df[df["quant"] == q]
        qlora = d[d["method"] == "qlora"][value].mean()
        if not math.isnan(qlora):
            ax.axhline(qlora, color=colour("qlora"), ls="--", lw=1.2, label="qlora (T=0)")
        ranks = _sorted(d["rank"]) if "rank" in d else [None]
        for m in _sorted(d["method"]):
            if m == "qlora":
                continue
            for k, r in enumerate(ranks):
                dm = d[d["method"] == m]
                if r is not None:
                    dm = dm[dm["rank"] == r]
                if dm.empty:
                    continue
                s = dm.groupby("T")[value].mean()
                if m == "loftq" and not math.isnan(qlora) and 0 not in s.index:
                    s.loc[0] = qlora  # LoftQ with T = 0 is QLoRA by definition
                s = s.sort_index()
                ax.plot(s.index, s.values, color=colour(m), ls=_STYLES[k % len(_STYLES)],
                        marker=_MARKERS[k % len(_MARKERS)], ms=4,
                        label=m if r is None else f"{m} r={label(r)}")
        _decorate(ax, q, "alternating steps T",
                  _RESIDUAL if value == "mean_residual_rel" else value, sorted(df["T"].unique()))
    fig.suptitle("Initialisation discrepancy against T (mean over tensors)")
    return _save(fig, path)


def discrepancy_by_layer(tensors: pd.DataFrame, path, value: str = "residual_rel") -> Path | None:
    """LoftQ's per-layer view: the discrepancy of each layer (mean over its projection types)
    for QLoRA and for each method and T; a panel per quantizer and rank."""
    df = complete(tensors)
    if df.empty or value not in df or "layer" not in df or "quant" not in df:
        return None
    df = with_T(df[df[value].notna() & (df["layer"] >= 0)])
    if df.empty or df["layer"].nunique() < 2:
        return None
    ranks = _sorted(df["rank"]) if "rank" in df else []
    keys = [(q, r) for q in _sorted(df["quant"]) for r in (ranks or [None])]
    fig, axes = _panels(len(keys))
    for ax, (q, r) in zip(axes, keys):
        d = df[df["quant"] == q]
        s = d[d["method"] == "qlora"].groupby("layer")[value].mean()
        if not s.empty:
            ax.plot(s.index, s.values, color=colour("qlora"), ls="--", marker="o", ms=3,
                    label="qlora (T=0)")
        d = d[d["method"] != "qlora"]
        if r is not None:
            d = d[d["rank"] == r]
        for m in _sorted(d["method"]):
            for k, T in enumerate(sorted(d[d["method"] == m]["T"].unique())):
                s = d[(d["method"] == m) & (d["T"] == T)].groupby("layer")[value].mean()
                ax.plot(s.index, s.values, color=colour(m), ls=_STYLES[k % 4],
                        marker=_MARKERS[k % 6], ms=3, alpha=1.0 - 0.12 * k, label=f"{m} T={T}")
        _decorate(ax, q if r is None else f"{q}, r={label(r)}", "layer",
                  _RESIDUAL if value == "residual_rel" else value, sorted(df["layer"].unique()),
                  legend_size=6)
    fig.suptitle("Discrepancy per layer (mean over projection types)")
    return _save(fig, path)


def error_reduction_vs_rank(points: pd.DataFrame, path,
                            value: str = "err_reduction_nuclear") -> Path | None:
    df = complete(points)
    if df.empty or value not in df or "rank" not in df or "quant" not in df:
        return None
    df = with_T(df[df[value].notna() & df["rank"].notna() & (df["method"] != "qlora")])
    if df.empty:
        return None
    quants = _sorted(df["quant"])
    fig, axes = _panels(len(quants))
    for ax, q in zip(axes, quants):
        d = df[df["quant"] == q]
        for m in _sorted(d["method"]):
            for k, T in enumerate(sorted(d[d["method"] == m]["T"].unique())):
                s = d[(d["method"] == m) & (d["T"] == T)].groupby("rank")[value].mean() * 100
                ax.plot(s.index, s.values, color=colour(m), ls=_STYLES[k % len(_STYLES)],
                        marker=_MARKERS[k % len(_MARKERS)], ms=4, label=f"{m} T={T}")
        ax.axhline(0, color=colour("qlora"), lw=0.8, ls="--")
        ax.set_xscale("log", base=2)
        norm = "nuclear" if "nuclear" in value else "Frobenius"
        _decorate(ax, q, "rank r", f"error reduction vs QLoRA ({norm}), %",
                  sorted(d["rank"].unique()))
    fig.suptitle("Error reduction against rank (1 - err / err_QLoRA)")
    return _save(fig, path)


def _bits_axis(df: pd.DataFrame) -> tuple[pd.Series, str]:
    # Storage cost (scales included) puts mixed-precision rules, which have no single code
    # width, on the same axis as plain quantizers.
    if "bits_per_weight" in df and df["bits_per_weight"].notna().any():
        return df["bits_per_weight"], "bits per weight (storage, scales included)"
    if "bits" in df:
        return pd.to_numeric(df["bits"], errors="coerce"), "bits per weight (code bits)"
    return pd.Series(np.nan, index=df.index), "bits"


def ppl_vs_bits(points: pd.DataFrame, path, value: str = "ppl_final") -> Path | None:
    df = complete(points)
    if df.empty or value not in df or "method" not in df:
        return None
    df = with_T(df)
    xbits, xlabel = _bits_axis(df)
    df = df.assign(xbits=xbits)
    div = df["diverged"].fillna(0) == 1 if "diverged" in df else pd.Series(False, index=df.index)
    has_quant = df["quant"].notna() if "quant" in df else pd.Series(False, index=df.index)
    quantised = df[df["xbits"].notna() & has_quant]
    if quantised.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    ok = df[~div & df[value].notna()]
    top = ok[value].max() if not ok.empty else 1.0
    for m in _sorted(df["method"]):
        dm = df[df["method"] == m]
        if "quant" not in dm or dm["quant"].isna().all():  # unquantised baselines: lines
            v = dm[~div.loc[dm.index]][value].mean()
            if not math.isnan(v):
                ax.axhline(v, color=colour(m), ls=":", lw=1.2, label=f"{m} (fp32)")
            continue
        for k, T in enumerate(sorted(dm["T"].unique())):
            d = dm[dm["T"] == T]
            name = m if m != "loftq" or dm["T"].nunique() == 1 else f"{m} T={T}"
            good = d[~div.loc[d.index]].groupby("xbits")[value].mean()
            ax.plot(good.index, good.values, color=colour(m), marker=_MARKERS[k % 6],
                    ls=_STYLES[k % 4], label=name)
            bad = sorted(set(d[div.loc[d.index]]["xbits"]))
            if bad:
                ax.scatter(bad, [top * 1.05] * len(bad), color=colour(m), marker="x", s=60,
                           zorder=5, label=f"{name}: diverged (N.A.)")
                for b in bad:
                    ax.annotate("N.A.", (b, top * 1.05), textcoords="offset points",
                                xytext=(6, -3), fontsize=7, color=colour(m))
    if "ppl_fp" in df and df["ppl_fp"].notna().any():
        ax.axhline(df["ppl_fp"].mean(), color="0.5", lw=0.8, label="before fine-tuning (fp32)")
    ys = list(ok[value]) + (list(df["ppl_fp"].dropna()) if "ppl_fp" in df else [])
    if ys and min(ys) > 0 and max(ys) / min(ys) > 5:  # the unadapted model can sit far above
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    _decorate(ax, "Perplexity against bits", xlabel, "perplexity after fine-tuning",
              sorted(quantised["xbits"].unique()))
    return _save(fig, path)


def _with_quant_label(df: pd.DataFrame) -> pd.DataFrame:
    """Column qlabel: the quantizer, or "fp32" for points without one."""
    qcol = df["quant"] if "quant" in df else pd.Series(np.nan, index=df.index)
    return df.assign(qlabel=qcol.map(lambda v: "fp32" if isinstance(v, float) or v is None
                                     else str(v)))


def training_curves(curves: pd.DataFrame, path, curve: str = "train_loss") -> Path | None:
    df = complete(curves)
    if df.empty or curve not in df or "method" not in df:
        return None
    df = with_T(df[df[curve].map(lambda a: isinstance(a, np.ndarray) and a.size > 0)])
    if df.empty:
        return None
    df = _with_quant_label(df)
    groups = _sorted(df["qlabel"])
    fig, axes = _panels(len(groups))
    for ax, g in zip(axes, groups):
        d = df[df["qlabel"] == g]
        for m in _sorted(d["method"]):
            for k, T in enumerate(sorted(d[d["method"] == m]["T"].unique())):
                dd = d[(d["method"] == m) & (d["T"] == T)]
                n = min(a.size for a in dd[curve])
                mean = np.mean(np.stack([a[:n] for a in dd[curve]]), axis=0)
                name = m if m != "loftq" or d[d["method"] == m]["T"].nunique() == 1 \
                    else f"{m} T={T}"
                # loss[i] is the loss of step i + 1, the numbering eval_step uses
                ax.plot(np.arange(1, n + 1), mean, color=colour(m), ls=_STYLES[k % 4], lw=1.2,
                        label=name)
                if "train_eval_step" in dd and "train_eval_loss" in dd:
                    e = dd.iloc[0]
                    if isinstance(e["train_eval_step"], np.ndarray):
                        ax.plot(e["train_eval_step"], e["train_eval_loss"], color=colour(m),
                                ls="none", marker=_MARKERS[k % 6], ms=4)
        _decorate(ax, g, "step", "training loss (markers: eval)")
    fig.suptitle("Training curves")
    return _save(fig, path)


def accuracy_curves(curves: pd.DataFrame, path) -> Path | None:
    """Validation accuracy against steps (classify points): one panel per task, one line per
    method and quantizer, the mean over seeds."""
    df = complete(curves)
    need = ("train_eval_acc", "train_eval_step", "task", "method")
    if df.empty or any(c not in df for c in need):
        return None
    df = df[df["train_eval_acc"].map(lambda a: isinstance(a, np.ndarray) and a.size > 0)]
    if df.empty:
        return None
    df = _with_quant_label(df)
    groups = _sorted(df["task"])
    fig, axes = _panels(len(groups))
    for ax, g in zip(axes, groups):
        d = df[df["task"] == g]
        for k, q in enumerate(_sorted(d["qlabel"])):
            for m in _sorted(d[d["qlabel"] == q]["method"]):
                dd = d[(d["qlabel"] == q) & (d["method"] == m)]
                n = min(a.size for a in dd["train_eval_acc"])
                mean = np.mean(np.stack([a[:n] for a in dd["train_eval_acc"]]), axis=0)
                ax.plot(dd.iloc[0]["train_eval_step"][:n], 100 * mean, color=colour(m),
                        ls=_STYLES[k % 4], lw=1.2, marker=_MARKERS[k % 6], ms=3,
                        label=f"{m} {q}")
        _decorate(ax, g, "step", "validation accuracy (%)")
    fig.suptitle("Validation accuracy during fine-tuning")
    return _save(fig, path)
