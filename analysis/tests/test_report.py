"""report.py end to end as a command: what it writes, what it skips, how it fails."""
import os
import subprocess
from pathlib import Path

import fixtures as F

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "analysis" / "report.py"


def run(*args):
    return subprocess.run(["/usr/bin/python3", str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, MPLBACKEND="Agg"))


def test_help_exits_zero_and_names_the_arguments():
    p = run("--help")
    assert p.returncode == 0
    assert "RESULTS" in p.stdout and "--out DIR" in p.stdout


def test_report_on_residual_results_has_tables_plots_and_skips_finetuning(tmp_path):
    res = F.write_results_dir(tmp_path / "res", F.residual_records())
    out = tmp_path / "out"
    p = run(res, "--out", out)
    assert p.returncode == 0, p.stderr
    assert f"wrote {out / 'report.md'}" in p.stdout
    md = (out / "report.md").read_text()
    assert "## Initialisation discrepancy (LoftQ Fig. 2/3)" in md
    assert "## Error reduction vs QLoRA (PiSSA Tables 4/8)" in md
    assert "| quant | method | rank | T=0 | T=1 | T=2 | T=5 |" in md
    assert "![Discrepancy against T](residual_vs_T.png)" in md
    assert "## Fine-tuning" not in md
    assert "- Perplexity after fine-tuning: no points with metric ppl_final" in md
    for name in ("residual_by_T", "residual_by_rank", "error_reduction_nuclear"):
        assert (out / "tables" / f"{name}.tex").read_text().startswith("\\begin{table}")
        assert str(out / "tables" / f"{name}.tex") in p.stdout
    assert (out / "residual_vs_T.png").stat().st_size > 10000


def test_report_on_finetune_results_marks_diverged_runs(tmp_path):
    res = F.write_results_h5(tmp_path / "results.h5", F.finetune_records())
    out = tmp_path / "out"
    p = run(res, "--out", out)
    assert p.returncode == 0, p.stderr
    md = (out / "report.md").read_text()
    assert "| qlora | nf2 | 2.50 | N.A. |" in md
    assert "![Training curves](training_curves.png)" in md
    assert "- Discrepancy by T: no points with metric mean_residual_rel" in md


def test_missing_and_invalid_inputs_fail_with_a_message(tmp_path):
    p = run(tmp_path / "nope", "--out", tmp_path / "o")
    assert p.returncode == 1
    assert "nope: no such file or folder" in p.stderr
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x00" * 64)
    p = run(bad, "--out", tmp_path / "o")
    assert p.returncode == 1 and "bad.h5: not a readable HDF5 file" in p.stderr
    assert not (tmp_path / "o" / "report.md").exists()
    p = run(bad)
    assert p.returncode == 2 and "--out" in p.stderr


def test_importable_as_a_module():
    p = subprocess.run(["/usr/bin/python3",
                        "-m", "analysis.report", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "RESULTS" in p.stdout
