"""Paper-shaped tables from loaded results, rendered as Markdown and LaTeX.

    residual_table       rows quant x method, columns T (alternating steps) or rank: the weight-
                         space discrepancy of LoftQ Fig. 2/3 as a table
    error_reduction_table  the PiSSA error-reduction shape: rows quant x method x T, columns the
                         projection types (averaged over layers), 1 - err / err_qlora in percent
    finetune_table       the LoftQ Table 5 shape: rows method x quantizer, columns perplexity after
                         fine-tuning, N.A. where training diverged
    t_ablation_table     downstream perplexity against T (rows quant x method, columns T)
    classify_table       the LoftQ Table 1/2 (GLUE) shape: rows quantizer x method, columns tasks,
                         test accuracy mean +- std over seeds, N.A. where training diverged

Conventions shared by all of them: only points with status "complete" count; QLoRA is T = 0 (it
has no `steps`); a parameter that does not apply to a point (NaN, e.g. `rank` for qlora) puts the
point in every column of that parameter and prints "-" as a row label; seeds (and any parameter
that varies but is neither a row nor a column) are averaged over, and parameters that vary are
added to the rows so no two different settings are ever averaged together silently.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .load import PROJECTIONS

NA = "N.A."  # the LoftQ paper's mark for a run whose training diverged
MISSING = "-"

# Columns that never split rows: bookkeeping, and seeds (averaged over).
_NOT_GROUPING = {"id", "status", "seconds", "host", "error", "file", "seed", "experiment",
                 "tensor", "proj", "layer", "name"}

# Parameter names assumed when the caller does not pass the list the loader found.
DEFAULT_PARAMS = ("method", "quant", "bits", "rank", "steps", "seed", "svd", "block")

# Methods in the order the papers list them.
_METHOD_ORDER = ["full", "lora", "qlora", "loftq", "qpissa"]


@dataclass
class Table:
    """A rendered table: string cells for printing, float values for checking."""
    title: str
    index_names: list[str]
    rows: list[tuple[str, ...]]
    columns: list[str]
    cells: list[list[str]]
    values: np.ndarray  # float, NaN where a cell is missing or N.A.
    note: str = ""
    column_title: str = ""
    keys: list[tuple] = field(default_factory=list)  # raw row keys, parallel to rows

    def cell(self, row: tuple, column: str) -> str:
        return self.cells[self.rows.index(tuple(row))][self.columns.index(column)]

    def value(self, row: tuple, column: str) -> float:
        return float(self.values[self.rows.index(tuple(row)), self.columns.index(column)])

    def markdown(self) -> str:
        head = list(self.index_names) + [self._col_label(c) for c in self.columns]
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join([":---"] * len(self.index_names) + ["---:"] * len(self.columns))
                 + "|"]
        for r, cs in zip(self.rows, self.cells):
            lines.append("| " + " | ".join(list(r) + cs) + " |")
        out = f"**{self.title}**\n\n" + "\n".join(lines) + "\n"
        if self.note:
            out += f"\n{self.note}\n"
        return out

    def latex(self) -> str:
        spec = "l" * len(self.index_names) + "r" * len(self.columns)
        head = [_tex(n) for n in self.index_names] + [_tex(self._col_label(c))
                                                      for c in self.columns]
        lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{_tex(self.title)}}}",
                 f"\\begin{{tabular}}{{{spec}}}", "\\toprule", " & ".join(head) + " \\\\",
                 "\\midrule"]
        for r, cs in zip(self.rows, self.cells):
            lines.append(" & ".join(_tex(x) for x in list(r) + cs) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.note:
            lines.append(f"\\par\\smallskip{{\\footnotesize {_tex(self.note)}}}")
        lines.append("\\end{table}")
        return "\n".join(lines) + "\n"

    def _col_label(self, c: str) -> str:
        return f"{self.column_title}={c}" if self.column_title else c


def _tex(s: str) -> str:
    return re.sub(r"([_&%#$])", r"\\\1", str(s))


# ---- helpers -----------------------------------------------------------------------------------

def complete(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty or "status" not in df:
        return df
    return df[df["status"].fillna("complete") == "complete"]


def with_T(df: pd.DataFrame) -> pd.DataFrame:
    """Adds column T: `steps` where the method has it, else 0 (QLoRA = LoftQ with T = 0)."""
    df = df.copy()
    steps = df["steps"] if "steps" in df else pd.Series(np.nan, index=df.index)
    df["T"] = pd.to_numeric(steps, errors="coerce").fillna(0).astype(int)
    return df


def varying(df: pd.DataFrame, candidates, fixed) -> list[str]:
    """Parameters among candidates that still vary once the `fixed` columns are held constant:
    those must split rows, or different settings would be averaged together. A parameter that
    follows from the fixed ones (bits from quant, steps from T) adds nothing and is left out."""
    keys = [k for k in dict.fromkeys(fixed) if k in df]
    out = []
    for c in dict.fromkeys(candidates):
        if c in keys or c in _NOT_GROUPING or c not in df:
            continue
        col = df[c].map(_hashable)
        if keys:
            groups = pd.DataFrame({k: df[k].map(_key) for k in keys}).assign(_v=col)
            n = groups.groupby(keys, dropna=False)["_v"].nunique(dropna=False).max()
        else:
            n = col.nunique(dropna=False)
        if n > 1:
            out.append(c)
            keys.append(c)
    return out


def _key(v):
    """NaN-free hashable form of a grouping value (NaN != NaN would split every group)."""
    return None if _na(v) else _hashable(v)


def _hashable(v):
    return v.tobytes() if isinstance(v, np.ndarray) else v


def label(v) -> str:
    """A parameter value as a row/column label: integral floats as ints, NaN as '-'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return MISSING
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else f"{float(v):.6g}"
    return str(v)


def _na(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def _natural(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return (0, 0.0, "")  # not-applicable rows (qlora's rank) first
    if isinstance(v, (int, float, np.number)):
        return (1, float(v), "")
    s = str(v)
    if s in _METHOD_ORDER:
        return (1, float(_METHOD_ORDER.index(s)), s)
    m = re.match(r"([A-Za-z_]*)(\d+)(.*)", s)
    if m:  # nf2 < nf3 < nf4 < nf4:dq; int4 < int8
        return (2, float(m.group(2)), m.group(1) + m.group(3))
    return (3, 0.0, s)


def _sort_keys(keys):
    return sorted(keys, key=lambda k: tuple(_natural(x) for x in k))


def _same(a, b) -> bool:
    na, nb = _na(a), _na(b)
    return (na and nb) or (not na and not nb and a == b)


def grid_table(df: pd.DataFrame, *, rows, col: str, value: str, fmt: str, title: str,
               params=(), diverged: str | None = None, column_title: str = "",
               note: str = "", scale: float = 1.0) -> Table:
    """The shared pivot: one row per distinct value of `rows` (+ varying params), one column per
    value of `col`; cells are the mean of `value` * scale over the points that fall in them.
    A point whose `col` is NaN (parameter not applicable) falls in every column. With `diverged`
    set, a cell any of whose points diverged prints N.A."""
    rows = [r for r in rows if r in df]
    extras = varying(df, [p for p in params if p not in (col, value)], rows + [col])
    rkeys = rows + extras
    col_vals = sorted({v for v in df[col].dropna()}, key=_natural) if col in df else []
    key_list = _sort_keys({tuple(_key(x) for x in r) for r in df[rkeys].itertuples(index=False)})
    values = np.full((len(key_list), len(col_vals)), np.nan)
    cells = [[MISSING] * len(col_vals) for _ in key_list]
    records = df.to_dict("records")
    for i, key in enumerate(key_list):
        mine = [p for p in records if all(_same(p[k], v) for k, v in zip(rkeys, key))]
        for j, cv in enumerate(col_vals):
            here = [p for p in mine if _same(p.get(col), cv) or _na(p.get(col))]
            vals = [p.get(value) for p in here if not _na(p.get(value))]
            if diverged and any(p.get(diverged, 0) == 1 for p in here):
                cells[i][j] = NA
                continue
            if vals:
                values[i, j] = float(np.mean(vals)) * scale
                cells[i][j] = fmt.format(values[i, j])
    return Table(title=title, index_names=rkeys, rows=[tuple(label(x) for x in k)
                                                       for k in key_list],
                 columns=[label(c) for c in col_vals], cells=cells, values=values, note=note,
                 column_title=column_title, keys=key_list)


def _seeds_note(df: pd.DataFrame) -> str:
    if "seed" in df and df["seed"].dropna().nunique() > 1:
        return f"Mean over {df['seed'].dropna().nunique()} seeds."
    return ""


# ---- the paper shapes --------------------------------------------------------------------------

def residual_table(points: pd.DataFrame, *, by: str = "T", value: str = "mean_residual_rel",
                   params=()) -> Table | None:
    """Weight-space discrepancy: rows quant x method, columns T (by="T") or rank (by="rank")."""
    df = complete(points)
    if df.empty or value not in df or df[value].dropna().empty:
        return None
    df = with_T(df[df[value].notna()])
    if by not in df:
        return None
    what = {"mean_residual_rel": "||W - Q - sBA||_F / ||W||_F, mean over tensors",
            "err_reduction_fro": "error reduction vs QLoRA (Frobenius), %",
            "err_reduction_nuclear": "error reduction vs QLoRA (nuclear norm), %"}.get(value, value)
    pct = value.startswith("err_reduction")
    # T stands for steps (QLoRA's T = 0 has no steps), so steps itself never splits rows.
    params = ["T"] + [p for p in params if p != "steps"] + ["rank"]
    return grid_table(df, rows=["quant", "method"], col=by, value=value,
                      fmt="{:.1f}" if pct else "{:.4f}", scale=100.0 if pct else 1.0,
                      params=params, column_title="T" if by == "T" else "r",
                      title=f"Initialisation discrepancy by {'T' if by == 'T' else 'rank'}: {what}",
                      note=_seeds_note(df))


def tensor_reductions(tensors: pd.DataFrame, *, norm: str = "nuclear",
                      params=()) -> pd.DataFrame:
    """Per point x tensor of the low-rank methods: column `reduction` = 1 - err / err_QLoRA of
    that tensor (norm "nuclear" or "fro"); empty when no reference can be found."""
    name = "residual_nuclear" if norm == "nuclear" else "residual_fro"
    df = complete(tensors)
    if df.empty or name not in df or "method" not in df:
        return pd.DataFrame()
    df = with_T(df[df[name].notna()])
    df = attach_qlora_reference(df, name, params)
    df = df[(df["method"] != "qlora") & df["ref"].notna()]
    return df.assign(reduction=1.0 - df[name] / df["ref"])


def error_reduction_table(tensors: pd.DataFrame, *, norm: str = "nuclear", params=()) -> Table | None:
    """PiSSA's error-reduction ratio 1 - ||W - Q - sBA|| / ||W - q(W)|| (in %), per projection
    type averaged over layers; rows quant x method x T (x rank when it varies)."""
    df = tensor_reductions(tensors, norm=norm, params=params)
    if df.empty or "proj" not in df or df["proj"].isna().all():
        return None
    df = df[df["proj"].notna()]
    cols = [p for p in PROJECTIONS if p in set(df["proj"])]
    # "all": the mean over every tensor, the single number the PiSSA text quotes.
    both = pd.concat([df, df.assign(proj="all")], ignore_index=True)
    t = grid_table(both, rows=["quant", "method", "T"], col="proj", value="reduction",
                   fmt="{:.1f}", scale=100.0, params=list(params) + ["rank"],
                   title=f"Error reduction vs QLoRA ({'nuclear' if norm == 'nuclear' else 'Frobenius'}"
                         " norm, %), per projection type, mean over layers")
    order = [c for c in cols + ["all"] if c in t.columns]
    idx = [t.columns.index(c) for c in order]
    t.columns = order
    t.cells = [[r[i] for i in idx] for r in t.cells]
    t.values = t.values[:, idx]
    t.note = " ".join(x for x in [_seeds_note(df),
                                  "1 - err / err_QLoRA for the same tensor and quantizer."] if x)
    return t


def attach_qlora_reference(df: pd.DataFrame, name: str, params=()) -> pd.DataFrame:
    """Column `ref`: the QLoRA residual of the same tensor under the same quantizer settings.
    Matched on every parameter the qlora points set (method/rank/steps/seed excluded); where no
    qlora point exists, LoftQ's own trace entry 0 (after quantisation alone) is that residual."""
    df = df.copy()
    df["ref"] = np.nan
    skip = {"method", "rank", "steps", "T", "seed", "svd"} | _NOT_GROUPING
    q = df[df["method"] == "qlora"]
    if not q.empty:
        cands = list(params) or list(DEFAULT_PARAMS)
        keys = ["tensor"] + [c for c in dict.fromkeys(cands)
                             if c not in skip and c in q and q[c].notna().all()]
        ref = q.groupby(keys)[name].mean().rename("ref_q").reset_index()
        df = df.merge(ref, on=keys, how="left")
        df["ref"] = df["ref_q"]
        df = df.drop(columns=["ref_q"])
    trace = f"{name}_trace"
    if trace in df:
        own = df[trace].map(lambda a: a[0] if isinstance(a, np.ndarray) and a.size else np.nan)
        use = df["ref"].isna() & (df["method"] == "loftq")
        df.loc[use, "ref"] = own[use]
    return df


def _quant_label(df: pd.DataFrame) -> pd.Series:
    q = df["quant"] if "quant" in df else pd.Series(np.nan, index=df.index)
    return q.map(lambda v: "fp32 (none)" if _na(v) else str(v))


_FINETUNE_TITLES = {
    "ppl_final": "Perplexity after fine-tuning (LoftQ Table 5 shape); N.A. = diverged",
    "ppl_init": "Perplexity at initialisation, before fine-tuning (quantised base + adapters); "
                "N.A. = the run diverged later",
}


def finetune_table(points: pd.DataFrame, *, value: str = "ppl_final", params=()) -> Table | None:
    """LoftQ Table 5: rows method x quantizer, columns perplexity after fine-tuning (N.A. where
    diverged); a column per value of any other varying parameter (rank, corpus ...)."""
    df = complete(points)
    if df.empty or value not in df or df[value].dropna().empty:
        return None
    df = with_T(df[df[value].notna() | (df.get("diverged", 0) == 1)])
    df = df.assign(quantizer=_quant_label(df))
    if "method" in df:
        # LoftQ's alternating steps belong to the row: LoftQ T=1 and T=5 are different methods.
        df["method"] = [m if m != "loftq" or T == 0 or df["T"].nunique() == 1 else f"{m} (T={T})"
                        for m, T in zip(df["method"], df["T"])]
    extras = [e for e in varying(df, list(params) + ["rank", "corpus", "model", "lora_alpha",
                                                     "train_steps"], ["method", "quantizer"])
              if e not in ("quant", "bits", "steps")]
    if extras:
        df["setting"] = [", ".join(f"{e}={label(r[e])}" for e in extras)
                         for r in df.to_dict("records")]
    else:
        df["setting"] = "ppl"
    t = grid_table(df, rows=["method", "quantizer"], col="setting", value=value,
                   fmt="{:.2f}", diverged="diverged" if "diverged" in df else None,
                   title=_FINETUNE_TITLES.get(value, f"{value} (LoftQ Table 5 shape)"))
    if "bits_per_weight" in df:
        bpw = [df[(df["method"] == k[0]) & (df["quantizer"] == k[1])]["bits_per_weight"].mean()
               for k in t.keys]
        t.columns = ["bits/w"] + t.columns
        t.cells = [[MISSING if _na(b) else f"{b:.2f}"] + r for b, r in zip(bpw, t.cells)]
        t.values = np.column_stack([np.array(bpw, dtype=float), t.values])
    t.note = " ".join(x for x in [_seeds_note(df), "bits/w: storage cost per weight, "
                                  "scales included (fp32 = 32)." if "bits_per_weight" in df
                                  else ""] if x)
    return t


def t_ablation_table(points: pd.DataFrame, *, value: str = "ppl_final", params=()) -> Table | None:
    """Downstream perplexity against the number of alternating steps T (QLoRA = T = 0)."""
    df = complete(points)
    if df.empty or value not in df or df[value].dropna().empty or "quant" not in df:
        return None
    df = with_T(df[df["quant"].notna()])
    if df["T"].nunique() < 2:
        return None
    if "loftq" in set(df["method"]):  # QLoRA is LoftQ's T = 0 column, not a row of its own
        df["method"] = df["method"].replace("qlora", "loftq")
    return grid_table(df, rows=["quant", "method"], col="T", value=value, fmt="{:.2f}",
                      diverged="diverged" if "diverged" in df else None, params=list(params)
                      + ["rank"], column_title="T",
                      title="Perplexity after fine-tuning against alternating steps T "
                            "(T = 0 is QLoRA); N.A. = diverged", note=_seeds_note(df))


def classify_table(points: pd.DataFrame, *, value: str = "acc", params=()) -> Table | None:
    """LoftQ Table 1/2 (GLUE): rows bits x method, columns tasks; cells the test accuracy in %
    as mean +- std over seeds, N.A. where a run diverged (NaN/Inf loss, or a validation accuracy
    never above the majority class). The majority-class and frozen-model-plus-head baselines
    are rows of their own."""
    df = complete(points)
    if df.empty or value not in df or "task" not in df or df[value].dropna().empty:
        return None
    df = with_T(df[df["task"].notna()])
    df = df.assign(quantizer=_quant_label(df))
    extras = [e for e in varying(df, list(params) + ["rank", "model", "train_steps", "pooling",
                                                     "lora_alpha"], ["method", "quantizer", "task"])
              if e not in ("quant", "bits", "steps", "seed")]
    rkeys = ["quantizer", "method"] + extras
    tasks = sorted(df["task"].dropna().unique(), key=_natural)
    groups = _sort_keys({tuple(_key(r[k]) for k in rkeys) for r in df.to_dict("records")})
    rows, keys, cells, vals = [], [], [], []

    def cell(d: pd.DataFrame, metric: str, div: bool) -> tuple[str, float]:
        if d.empty:
            return MISSING, np.nan
        if div and "diverged" in d and (d["diverged"] == 1).any():
            return NA, np.nan
        v = d[metric].dropna().astype(float) * 100
        if v.empty:
            return MISSING, np.nan
        sd = f" ± {v.std(ddof=1):.1f}" if len(v) > 1 else ""
        return f"{v.mean():.1f}{sd}", float(v.mean())

    def add(label_row, key, pick, metric, div):
        row_cells, row_vals = [], []
        for t in tasks:
            c, x = cell(pick(t), metric, div)
            row_cells.append(c)
            row_vals.append(x)
        rows.append(label_row)
        keys.append(key)
        cells.append(row_cells)
        vals.append(row_vals)

    pad = ("",) * (len(rkeys) - 2)
    for base, name in (("majority_acc", "majority class"), ("head_acc", "frozen model + head")):
        if base in df:
            # One value per task and seed (every point of a task repeats it).
            add(("-", name) + pad, ("-", name),
                lambda t, b=base: df[df["task"] == t].drop_duplicates("seed" if "seed" in df
                                                                     else "task"), base, False)
    for g in groups:
        here = df[[all(_same(r[k], v) for k, v in zip(rkeys, g)) for r in df.to_dict("records")]]
        add(tuple(label(x) for x in g), g, lambda t, h=here: h[h["task"] == t], value, True)
    note = " ".join(x for x in [_seeds_note(df), "Test accuracy (%) at the checkpoint with the "
                                "best validation accuracy; N.A. = diverged."] if x)
    return Table(title="Classification accuracy after fine-tuning (LoftQ Table 1/2 shape)",
                 index_names=rkeys, rows=rows, columns=[label(t) for t in tasks], cells=cells,
                 values=np.array(vals, dtype=float), note=note, keys=keys)
