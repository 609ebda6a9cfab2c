"""The default run's closing tables (sweeps/default_run.sh) fit 120 columns: the three default
sweeps, made short with --set (fewer steps, fewer evaluation tokens, one layer's tensors), then
`loftlab inspect` on each as the script calls it. The columns are the real run's; only the values
differ."""
import os
import subprocess
from pathlib import Path

import pytest

from cli_support import BIN, require_binary  # noqa: F401

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
SHORT = {
    "default_pretrain": ["train_steps=2", "eval_tokens=256", "checkpoint_every=0"],
    "default_residual": ["layers=model.layers.{0..0}.*proj*"],
    "default_finetune": ["train_steps=1", "eval_tokens=256", "warmup=0"],
}
INSPECT = {"default_pretrain": [], "default_residual": ["--sort", "mean_residual_rel"],
           "default_finetune": ["--sort", "ppl_final"]}


def test_default_run_tables_fit_120_columns(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "2", "LOFTLAB_MODELS": str(tmp_path / "models")}

    def loftlab(*args):
        return subprocess.run([BIN, *map(str, args)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    for name, sets in SHORT.items():
        args = [a for s in sets for a in ("--set", s)]
        p = loftlab("sweep", SWEEPS / f"{name}.ini", *args)
        if p.returncode != 0 and "package" in p.stderr:
            pytest.skip(f"a corpus of the default run is not installed: {p.stderr.strip()}")
        assert p.returncode == 0, p.stderr
    for name, extra in INSPECT.items():
        p = loftlab("inspect", f"results/{name}/results.h5", *extra)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert any(line.startswith("id ") for line in lines), p.stdout
        wide = [line for line in lines if len(line) > 120]
        assert not wide, f"{name}: lines over 120 columns:\n" + "\n".join(wide)
