#!/usr/bin/python3
"""report.py RESULTS --out DIR: the tables and plots the results allow, in DIR/report.md.

RESULTS is a results.h5, a point file, a folder of point files or a results/<name>/ folder.
Sections whose data are absent are listed as skipped, with the reason. Every table is also
written as LaTeX (DIR/tables/<name>.tex) and Markdown (DIR/tables/<name>.md); plots as
DIR/<name>.png. Exit codes: 0 written, 1 unreadable or empty results, 2 bad usage.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a script: make `analysis` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "analysis"

from analysis import plots, tables  # noqa: E402
from analysis.load import Results, ResultsError, load  # noqa: E402


@dataclass
class Item:
    """One table or plot of the report: built from the results, or absent (then `missing` says
    which data it needs)."""
    kind: str  # "table" | "plot"
    name: str  # file stem: tables/<name>.md|tex or <name>.png
    heading: str
    build: Callable  # table: f(res) -> Table | None; plot: f(res, path) -> Path | None
    missing: str


SECTIONS = [
    ("Initialisation discrepancy (LoftQ Fig. 2/3)", [
        Item("table", "residual_by_T", "Discrepancy by T",
             lambda r: tables.residual_table(r.points, by="T", params=r.params),
             "no points with metric mean_residual_rel"),
        Item("table", "residual_by_rank", "Discrepancy by rank",
             lambda r: tables.residual_table(r.points, by="rank", params=r.params),
             "no points with metric mean_residual_rel and a rank"),
        Item("plot", "residual_vs_T", "Discrepancy against T",
             lambda r, p: plots.residual_vs_T(r.points, p),
             "needs mean_residual_rel at two or more values of T"),
        Item("plot", "discrepancy_by_layer", "Discrepancy per layer",
             lambda r, p: plots.discrepancy_by_layer(r.tensors, p),
             "needs per-tensor residual_rel traces of tensors in two or more layers"),
    ]),
    ("Error reduction vs QLoRA (PiSSA Tables 4/8)", [
        Item("table", "error_reduction_nuclear", "Error reduction per projection (nuclear)",
             lambda r: tables.error_reduction_table(r.tensors, norm="nuclear", params=r.params),
             "needs per-tensor residual_nuclear traces of tensors named by projection type "
             "(q_proj ... down_proj) for a low-rank method and for qlora"),
        Item("table", "error_reduction_fro", "Error reduction per projection (Frobenius)",
             lambda r: tables.error_reduction_table(r.tensors, norm="fro", params=r.params),
             "needs per-tensor residual_fro traces of tensors named by projection type, "
             "for a low-rank method and for qlora"),
        Item("plot", "error_reduction_vs_rank", "Error reduction against rank",
             lambda r, p: plots.error_reduction_vs_rank(r.points, p),
             "needs metric err_reduction_nuclear at one or more ranks"),
    ]),
    ("Fine-tuning (LoftQ Table 5, T ablation)", [
        Item("table", "finetune", "Perplexity after fine-tuning",
             lambda r: tables.finetune_table(r.points, params=r.params),
             "no points with metric ppl_final"),
        Item("table", "finetune_init", "Perplexity at initialisation",
             lambda r: tables.finetune_table(r.points, value="ppl_init", params=r.params),
             "no points with metric ppl_init"),
        Item("table", "t_ablation", "Perplexity against T",
             lambda r: tables.t_ablation_table(r.points, params=r.params),
             "needs ppl_final of quantised points at two or more values of T"),
        Item("plot", "ppl_vs_bits", "Perplexity against bits",
             lambda r, p: plots.ppl_vs_bits(r.points, p), "needs ppl_final of quantised points"),
        Item("plot", "training_curves", "Training curves",
             lambda r, p: plots.training_curves(r.curves, p), "no /points/<id>/train/loss curves"),
    ]),
    ("Classification (LoftQ Table 1/2, GLUE shape)", [
        Item("table", "classify", "Classification accuracy",
             lambda r: tables.classify_table(r.points, params=r.params),
             "needs acc of classify points"),
        Item("plot", "accuracy_curves", "Validation accuracy curves",
             lambda r, p: plots.accuracy_curves(r.curves, p),
             "no /points/<id>/train/eval_acc curves"),
    ]),
]


def render(item: Item, res: Results, out: Path) -> str | None:
    """The item's Markdown for report.md, writing its files; None when its data are absent."""
    if item.kind == "plot":
        written = item.build(res, out / f"{item.name}.png")
        return None if written is None else f"![{item.heading}]({Path(written).name})\n"
    t = item.build(res)
    if t is None:
        return None
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "tables" / f"{item.name}.tex").write_text(t.latex())
    (out / "tables" / f"{item.name}.md").write_text(t.markdown())
    return t.markdown() + f"\n(LaTeX: `tables/{item.name}.tex`)\n"


def overview(res: Results) -> str:
    p = res.points
    n = len(p)
    status = p["status"].value_counts().to_dict() if "status" in p else {}
    lines = [f"- source: {', '.join(str(f) for f in res.files[:3])}"
             + (f" and {len(res.files) - 3} more files" if len(res.files) > 3 else ""),
             f"- points: {n} ({', '.join(f'{v} {k}' for k, v in status.items())})",
             f"- tensors per point: {len(res.tensors) // max(n, 1)}" if len(res.tensors) else
             "- tensors per point: none recorded"]
    for k in ("experiment", "method", "quant", "rank", "steps", "seed"):
        if k in p and p[k].notna().any():
            vals = sorted({tables._key(x) for x in p[k].dropna()}, key=tables._natural)
            lines.append(f"- {k}: {', '.join(tables.label(v) for v in vals)}")
    for k in ("loftlab_version", "git_commit", "created", "name"):
        if k in res.root_attrs:
            lines.append(f"- {k}: {res.root_attrs[k]}")
    return "\n".join(lines) + "\n"


def write_report(results_path, out) -> Path:
    out = Path(out)
    res = load(results_path)
    if res.points.empty:
        raise ResultsError(f"{results_path}: holds no points")
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# loftlab report: {results_path}\n", overview(res)]
    skipped = []
    for heading, items in SECTIONS:
        parts = []
        for item in items:
            text = render(item, res, out)
            if text is None:
                skipped.append((item.heading, item.missing))
            else:
                parts.append(text + "\n")
        if parts:
            md.append(f"\n## {heading}\n")
            md.extend(parts)
    if skipped:
        md.append("\n## Skipped (data absent)\n")
        md.extend(f"- {h}: {why}\n" for h, why in skipped)
    path = out / "report.md"
    path.write_text("".join(md))
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="report.py",
        description="Write the paper-style tables and plots of loftlab results to DIR/report.md.",
        epilog="RESULTS: results.h5, a point file <id>.h5, a points/ folder, or results/<name>/.")
    ap.add_argument("results", metavar="RESULTS", help="results file or folder")
    ap.add_argument("--out", metavar="DIR", required=True,
                    help="folder for report.md, tables/*.md|tex and *.png (created)")
    args = ap.parse_args(argv)
    try:
        path = write_report(args.results, args.out)
    except ResultsError as e:
        print(f"report.py: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    for f in written_files(path):
        print(f"  {f}")
    return 0


def written_files(report: Path) -> list[Path]:
    """The tables and plots report.md links to (not stale files of an earlier run)."""
    out = report.parent
    text = report.read_text()
    files = []
    for name in re.findall(r"\]\(([^)]+\.png)\)|`(tables/[^`]+\.tex)`", text):
        f = out / (name[0] or name[1])
        files.append(f)
        if name[1]:
            files.append(f.with_suffix(".md"))
    return files


if __name__ == "__main__":
    sys.exit(main())
