"""A real (tiny, synthetic) sweep through `loftlab sweep`, loaded and reported by analysis/.
Skipped when the loftlab binary is not built (ctest sets LOFTLAB_BIN)."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from analysis import tables
from analysis.load import load, load_summary

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "sweeps" / "synthetic_residual.ini"


def _loftlab():
    for p in (os.environ.get("LOFTLAB_BIN"), ROOT / "build" / "loftlab"):
        if p and Path(p).is_file() and os.access(p, os.X_OK):
            return str(p)
    pytest.skip("skipped: no loftlab binary (set LOFTLAB_BIN or build build/loftlab)")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    exe = _loftlab()
    out = tmp_path_factory.mktemp("e2e") / "synthetic"
    dry = subprocess.run([exe, "sweep", str(CONFIG), "--dry-run"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    run = subprocess.run([exe, "sweep", str(CONFIG), "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert run.returncode == 0, run.stderr
    return out, dry.stdout


def test_every_point_of_the_sweep_is_one_row(sweep):
    out, dry = sweep
    res = load(out)
    ids = set(res.points["id"])
    # The dry run lists each point's id; the loader finds exactly those.
    listed = {w for line in dry.splitlines() for w in line.split()
              if len(w) == 12 and all(c in "0123456789abcdef" for c in w)}
    assert ids == listed
    assert (res.points["status"] == "complete").all()
    assert set(res.points["method"]) == {"qlora", "loftq", "qpissa"}


def test_the_merged_file_and_its_summary_agree_with_the_point_files(sweep):
    out, _ = sweep
    from_points = load(out / "points").points.set_index("id").sort_index()
    merged = load(out / "results.h5").points.set_index("id").sort_index()
    summary = load_summary(out / "results.h5").set_index("id").sort_index()
    assert list(from_points.index) == list(merged.index) == list(summary.index)
    for c in ("mean_residual_rel", "err_reduction_fro", "err_reduction_nuclear"):
        np.testing.assert_array_equal(from_points[c], merged[c])
        np.testing.assert_array_equal(from_points[c], summary[c])


def test_traces_have_T_plus_one_entries_and_end_at_the_reported_residual(sweep):
    out, _ = sweep
    res = load(out)
    t = tables.with_T(res.tensors)
    lengths = t["residual_fro_trace"].map(len)
    # With stop = rise a trace may end early, at its best step; never longer than T + 1.
    assert (lengths <= t["T"] + 1).all() and (lengths >= 1).all()
    means = t.groupby("id")["residual_rel"].mean()
    pts = res.points.set_index("id")
    np.testing.assert_allclose(means, pts.loc[means.index, "mean_residual_rel"], rtol=1e-12)


def test_error_reduction_recomputed_from_traces_matches_the_experiment(sweep):
    # The analysis computes 1 - err / err_QLoRA from the qlora point of the same tensor; the
    # experiment computes it from q(W) itself. Both must agree for every point.
    out, _ = sweep
    res = load(out)
    pts = res.points.set_index("id")
    for norm, metric in (("fro", "err_reduction_fro"), ("nuclear", "err_reduction_nuclear")):
        red = tables.tensor_reductions(res.tensors, norm=norm, params=res.params)
        per_point = red.groupby("id")["reduction"].mean()
        assert len(per_point) == (pts["method"] != "qlora").sum()
        np.testing.assert_allclose(per_point, pts.loc[per_point.index, metric], rtol=1e-9,
                                   atol=1e-12)


def test_report_on_the_sweep(sweep, tmp_path):
    out, _ = sweep
    p = subprocess.run(["/usr/bin/python3", str(ROOT / "analysis" / "report.py"), str(out),
                        "--out", str(tmp_path / "rep")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| quant | method | rank | T=0 | T=1 | T=5 |" in md
    assert (tmp_path / "rep" / "residual_vs_T.png").is_file()
