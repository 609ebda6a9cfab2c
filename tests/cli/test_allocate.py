"""End to end through the CLI: `loftlab allocate` on the real stories260K weights, and the round
trip of its rules through a residual sweep, which must reproduce the allocation a `quant =
budget:B` point makes itself and the bits per weight the command reports. Skipped when the data
is absent."""
import os
import re
from pathlib import Path

import h5py
import pytest

from cli_support import loftlab, require_binary, write  # noqa: F401  (autouse fixture)

SOURCE = Path(os.environ.get("LOFTLAB_SOURCE_DIR") or Path(__file__).resolve().parents[2])
DATA = Path(os.environ.get("LOFTLAB_DATA") or SOURCE / ".." / "shared" / "data")
MODEL = DATA / "stories260K.bin"


@pytest.fixture(autouse=True)
def need_data():
    if not MODEL.exists():
        pytest.skip(f"real data absent: {MODEL} (see ../shared/data/README.md)")


def bits_reached(stdout: str) -> float:
    return float(re.search(r"bits per weight: ([0-9.]+) \(base\)", stdout).group(1))


def sweep_point(tmp_path: Path, name: str, quant: str) -> h5py.Group:
    cfg = write(tmp_path / f"{name}.ini", f"""name = {name}
experiment = residual
source = llama2c:{MODEL}
layers = *
[grid]
method = qlora
quant = {quant}
""")
    loftlab("sweep", cfg, cwd=tmp_path, ok=True, timeout=300)
    f = h5py.File(tmp_path / "results" / name / "results.h5", "r")
    (pid,) = list(f["points"])
    return f["points"][pid]


def test_help():
    p = loftlab("allocate", "--help", cwd=".", ok=True)
    for word in ("--budget", "--method", "--out", "Lagrangian", "LOFTLAB_COST_CACHE"):
        assert word in p.stdout


def test_rules_round_trip(tmp_path):
    out = tmp_path / "rules.txt"
    p = loftlab("allocate", f"llama2c:{MODEL}", "--budget", "3.0", "--method", "qlora",
                "--out", out, cwd=tmp_path, ok=True, timeout=300)
    rules = out.read_text().strip()
    assert rules == p.stdout.strip().splitlines()[-1]
    assert rules.count("=") == 35  # one rule per linear weight
    bits = bits_reached(p.stdout)
    assert 2.9 < bits <= 3.0
    assert "Lagrangian lower bound" in p.stdout and "proxy" in p.stdout

    # The rules as `quant`, verbatim: the same storage as the command reports.
    ruled = sweep_point(tmp_path, "ruled", rules)
    # A budget point allocates the same: the exact storage the command reports (bits_per_weight
    # is the large-matrix limit of the same quantizers), tensor by tensor, and the same residual.
    budget = sweep_point(tmp_path, "budget", "budget:3.0")
    chosen = dict(r.split("=") for r in rules.split("; "))
    for name, spec in chosen.items():
        b = budget["layers"][name]["alloc_bits"][0]
        assert int(spec[2]) < b < int(spec[2]) + 1, (name, spec, b)
        # the chosen spec is a note on the tensor, the whole allocation a note on the point
        assert budget["layers"][name].attrs["alloc_quant"] == spec
    assert budget["notes"].attrs["alloc_rules"] == rules
    assert "notes" not in ruled  # a point of plain rules has nothing to note
    assert "alloc_rules" not in budget.attrs  # notes are not parameters (nor in the id)
    assert budget["metrics/alloc_bits_per_weight"][()] == pytest.approx(bits, abs=5e-5)
    assert budget["metrics/bits_per_weight"][()] == ruled["metrics/bits_per_weight"][()]
    assert budget["metrics/mean_residual_rel"][()] == pytest.approx(
        ruled["metrics/mean_residual_rel"][()], rel=1e-12)
    # ...and does better than the uniform nf3 it undercuts in storage (3.5 bits).
    nf3 = sweep_point(tmp_path, "nf3", "nf3")
    assert nf3["metrics/bits_per_weight"][()] > bits


def test_infeasible_budget_names_the_minimum(tmp_path):
    p = loftlab("allocate", f"llama2c:{MODEL}", "--budget", "1.5", "--method", "qlora",
                cwd=tmp_path, ok=False, timeout=300)
    assert "minimum achievable" in p.stderr and "1.5000 bits per weight" in p.stderr


def test_bad_spec_is_quoted(tmp_path):
    p = loftlab("allocate", f"llama2c:{MODEL}", "--budget", "budget:3:blocks=7x", cwd=tmp_path,
                ok=False)
    assert "'budget:3:blocks=7x'" in p.stderr and "block '7x'" in p.stderr


def test_cost_cache_is_shared(tmp_path):
    """A second run at another budget reads every cost from $LOFTLAB_COST_CACHE."""
    import subprocess
    from cli_support import BIN, ENV
    env = {**ENV, "LOFTLAB_COST_CACHE": str(tmp_path / "cache")}
    args = [BIN, "allocate", f"llama2c:{MODEL}", "--method", "loftq", "--rank", "4"]
    first = subprocess.run(args + ["--budget", "3.0"], env=env, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    cache = tmp_path / "cache" / "alloc_costs.h5"
    with h5py.File(cache, "r") as f:
        assert len(f["costs"]) == 35 * 24
        keys = [g.attrs["key"] for g in f["costs"].values()]
    assert all("method=loftq|rank=4|steps=1" in k for k in keys)
    stamp = cache.stat().st_mtime_ns
    again = subprocess.run(args + ["--budget", "3.0"], env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.stdout == first.stdout  # the same allocation from the cached costs
    assert cache.stat().st_mtime_ns == stamp  # nothing new to save
    other = subprocess.run(args + ["--budget", "3.5"], env=env, capture_output=True, text=True,
                           timeout=300)
    assert other.returncode == 0 and bits_reached(other.stdout) > bits_reached(first.stdout)
