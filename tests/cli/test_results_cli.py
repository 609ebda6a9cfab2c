"""End to end: `loftlab merge` and `loftlab inspect` over point files written with plain h5py
exactly as results/README.md documents them (so the README is enough to produce the layout)."""
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from cli_support import point_id, seal

BIN = os.environ.get("LOFTLAB_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "loftlab")

TENSORS = ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"]

# Three points; a point's id is the hash of its parameters (cli_support.point_id), which merge
# checks. QLORA, LOFTQ5, LOFTQ1 name them; rows come sorted by id.
BASE = dict(experiment="residual", quant="nf4", rank=np.int64(8), seed=np.int64(0))
PARAMS = {"qlora": {**BASE, "method": "qlora"},
          "loftq5": {**BASE, "method": "loftq", "steps": np.int64(5)},
          "loftq1": {**BASE, "method": "loftq", "steps": np.int64(1), "rank": np.int64(16)}}
ID = {k: point_id(v) for k, v in PARAMS.items()}
BY_ID = sorted(ID, key=ID.get)  # the point names in id order


def run(*args, ok=True):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=60)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(autouse=True)
def need_binary():
    if not os.path.exists(BIN):
        pytest.skip(f"loftlab binary not found at {BIN} (set LOFTLAB_BIN)")


def write_point(d: Path, pid: str, params: dict, metrics: dict, steps: int):
    (d / "points").mkdir(parents=True, exist_ok=True)
    with h5py.File(d / "points" / f"{pid}.h5", "w") as f:
        for k, v in dict(loftlab_version="0.1.0", git_commit="abc", created="2026-11-23T07:00:00Z",
                         config="name = t\n", name="t").items():
            f.attrs[k] = v
        g = f.create_group(f"points/{pid}")
        for k, v in params.items():
            g.attrs[k] = v
        g.attrs.update(dict(id=pid, status="complete", seconds=1.25, host="h"))
        for t in TENSORS:
            res = np.array([1.0 / (1 + s) for s in range(steps + 1)])
            g.create_dataset(f"layers/{t}/residual_fro", data=res)
            g.create_dataset(f"layers/{t}/residual_rel", data=res / 10)
        g.create_group("train")
        for k, v in metrics.items():
            g.create_dataset(f"metrics/{k}", data=np.float64(v))
    seal(d / "points" / f"{pid}.h5")


@pytest.fixture
def results(tmp_path):
    d = tmp_path / "results" / "t"
    write_point(d, ID["qlora"], PARAMS["qlora"], dict(mean_residual_rel=0.3), 0)
    write_point(d, ID["loftq5"], PARAMS["loftq5"],
                dict(mean_residual_rel=0.1, err_reduction_fro=0.5), 5)
    write_point(d, ID["loftq1"], PARAMS["loftq1"],
                dict(mean_residual_rel=0.2, err_reduction_fro=0.25), 1)
    (d / "config.ini").write_text("name = t\n[grid]\nmethod = qlora, loftq\n")
    return d


def content(path):
    """Every attribute and dataset of an HDF5 file except the root `created`."""
    out = {}
    with h5py.File(path, "r") as f:
        out["/"] = {k: v for k, v in f.attrs.items() if k != "created"}

        def visit(name, obj):
            out[name] = {k: str(v) for k, v in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                out[name + "#data"] = repr(np.asarray(obj[()]).tolist())
        f.visititems(visit)
    return out


def test_merge_builds_results_and_a_pandas_summary(results):
    p = run("merge", results)
    assert "merged 3 points" in p.stdout
    r = results / "results.h5"
    with h5py.File(r, "r") as f:
        assert sorted(f["points"]) == sorted(ID.values())
        assert f.attrs["config"] == "name = t\n[grid]\nmethod = qlora, loftq\n"
        assert isinstance(f.attrs["created"], str)
        assert f[f"points/{ID['loftq5']}/layers/{TENSORS[1]}/residual_fro"].shape == (6,)
        df = pd.DataFrame(f["summary"][:])
    df = df.apply(lambda c: c.str.decode("utf-8") if c.dtype == object else c)
    assert list(df.columns) == ["id", "status", "experiment", "method", "quant", "rank", "seed",
                                "steps", "err_reduction_fro", "mean_residual_rel"]
    assert list(df["id"]) == [ID[k] for k in BY_ID]
    assert list(df["method"]) == [PARAMS[k]["method"] for k in BY_ID]
    assert df["rank"].dtype == np.int64 and list(df["rank"]) == [PARAMS[k]["rank"] for k in BY_ID]
    q = BY_ID.index("qlora")
    assert np.isnan(df["steps"][q]) and np.isnan(df["err_reduction_fro"][q])
    assert [df["steps"][BY_ID.index(k)] for k in ("loftq5", "loftq1")] == [5.0, 1.0]
    # no temporary left (the lock file merge takes stays, as a sweep's does)
    assert not any(n.startswith(".") and n != ".sweep.lock" for n in os.listdir(results))


def test_merge_is_idempotent(results):
    run("merge", results)
    first = content(results / "results.h5")
    run("merge", results)
    assert content(results / "results.h5") == first


def test_inspect_table_where_sort(results):
    out = run("inspect", results, "--all").stdout.splitlines()
    assert out[0].split() == ["id", "status", "experiment", "method", "quant", "rank", "seed",
                              "steps", "err_reduction_fro", "mean_residual_rel"]
    assert len(out) == 4
    assert out[1 + BY_ID.index("qlora")].split()[7] == "-"  # qlora has no steps
    # Columns line up: every row is as long as the header (last column is numeric).
    assert len({len(line) for line in out}) == 1

    out = run("inspect", results, "--all", "--where", "method=loftq",
              "--sort", "mean_residual_rel").stdout
    rows = [line.split()[0] for line in out.splitlines()[1:-1]]
    assert rows == [ID["loftq5"], ID["loftq1"]]
    assert "(2 of 3 points)" in out
    out = run("inspect", results, "--all", "--sort", "err_reduction_fro", "--desc").stdout
    assert [line.split()[0] for line in out.splitlines()[1:]] == [
        ID["loftq5"], ID["loftq1"], ID["qlora"]]
    run("merge", results)
    assert run("inspect", results / "results.h5").stdout == run("inspect", results).stdout


def test_inspect_shows_what_varies_and_the_headline(results):
    """By default: the settings that differ, the residual experiment's headline metrics, the
    common settings once above, the rest named below; --columns picks columns."""
    out = run("inspect", results).stdout.splitlines()
    assert out[0].startswith("in every row: ")
    common = out[0].split(": ", 1)[1].split()
    assert common == ["status=complete", "experiment=residual", "quant=nf4", "seed=0"]
    assert out[1].split() == ["id", "method", "rank", "steps", "mean_residual_rel",
                              "err_reduction_fro"]
    assert [line.split()[0] for line in out[2:5]] == [ID[k] for k in BY_ID]
    assert len(out) == 5  # no other column, so no "not shown" line
    out = run("inspect", results, "--columns", "method, id").stdout.splitlines()
    assert [line.split() for line in out] == [["method", "id"]] + [
        [PARAMS[k]["method"], ID[k]] for k in BY_ID]
    p = run("inspect", results, "--columns", "method,bogus", ok=False)
    assert "unknown column 'bogus'" in p.stderr
    p = run("inspect", results, "--all", "--columns", "id", ok=False)
    assert "use one" in p.stderr


def test_inspect_point(results):
    out = run("inspect", results, "--point", ID["loftq5"]).stdout
    assert f"point {ID['loftq5']}" in out and "status   complete" in out
    assert "steps" in out and "err_reduction_fro" in out
    for t in TENSORS:
        assert t in out
    line = next(line for line in out.splitlines() if TENSORS[0] in line)
    assert line.split()[1:] == ["6", "0.166667", "0.0166667"]  # values, final fro, final rel


def test_errors_name_what_is_wrong(results, tmp_path):
    p = run("inspect", tmp_path / "nope", ok=False)
    assert p.returncode == 1 and "nope: no such file or folder" in p.stderr
    p = run("inspect", results, "--point", "123", ok=False)
    assert p.returncode == 1 and "no point '123'" in p.stderr and ID["qlora"] in p.stderr
    p = run("inspect", results, "--where", "bits=4", ok=False)
    assert p.returncode == 1 and "unknown column 'bits'" in p.stderr and "method" in p.stderr
    p = run("inspect", results, "--sort", "bogus", ok=False)
    assert p.returncode == 1 and "unknown column 'bogus'" in p.stderr
    p = run("merge", tmp_path / "nothing", ok=False)
    assert p.returncode == 1 and "no such results folder" in p.stderr
    p = run("inspect", ok=False)
    assert p.returncode == 1 and "no FILE given" in p.stderr
    for cmd in ("merge", "inspect"):
        p = run(cmd, "--help")
        assert "usage: loftlab " + cmd in p.stdout
