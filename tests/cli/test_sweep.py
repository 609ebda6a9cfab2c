"""End to end through the CLI: `loftlab sweep` on synthetic sources (no data needed).

Covers the sweep contract: dry-run counts with collapsing and stable ids, resume,
kill -9 then re-run == an uninterrupted run, a second concurrent sweep refused, shards + merge ==
one run, mpirun -n 2 == one run, --jobs 2 == --jobs 1, failed points, bad configs, relative paths,
and the results read with h5py + pandas.
"""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

BIN = os.environ.get("LOFTLAB_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "loftlab")
ENV = {**os.environ, "OMP_NUM_THREADS": "2"}

# 24 combinations; qlora ignores rank and steps (2 points), loftq/qpissa 8 each: 18 points.
SMALL = """# a small synthetic sweep
name       = small
experiment = residual
source     = synthetic:gaussian:shape=64x64:count=3:seed=5
layers     = *

[grid]
method = qlora, loftq, qpissa
quant  = nf2, nf4
rank   = 2, 4
steps  = 1, 3
"""

# Slower points (about 0.1 s each) so a kill lands in the middle of the sweep.
SLOW = """name       = slow
experiment = residual
source     = synthetic:lowrank:shape=128x128:count=3:seed=2
[grid]
method = loftq, qpissa
quant  = nf2, nf3, nf4
rank   = 4, 8, 16
steps  = 6
"""


@pytest.fixture(autouse=True)
def need_binary():
    if not os.path.exists(BIN):
        pytest.skip(f"loftlab binary not found at {BIN} (set LOFTLAB_BIN)")


def loftlab(*args, cwd, ok=True, timeout=120):
    p = subprocess.run([BIN, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                       timeout=timeout)
    if ok:
        assert p.returncode == 0, f"loftlab {' '.join(map(str, args))}:\n{p.stdout}\n{p.stderr}"
    return p


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def fnv1a64(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for c in data:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def dry_run_ids(out: str):
    """The ids of a --dry-run listing, in listed order."""
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("#"))
    return [l.split()[1] for l in lines[start + 1:] if l.strip()]


# ---- comparing results, ignoring what legitimately differs between runs ----

VOLATILE_ATTRS = {"seconds", "host", "created", "loftlab_version", "git_commit", "config"}


def load(results_h5: Path):
    """Everything in results.h5 that a run determines: summary rows and every point's content."""
    out = {}
    with h5py.File(results_h5, "r") as f:
        df = pd.DataFrame(f["summary"][:])
        df = df.drop(columns=[c for c in ("seconds",) if c in df.columns])
        out["summary"] = df.sort_values("id").reset_index(drop=True)
        points = {}
        for pid, g in f["points"].items():
            item = {"attrs": {k: v for k, v in g.attrs.items() if k not in VOLATILE_ATTRS}}

            def visit(name, obj, item=item):
                if isinstance(obj, h5py.Dataset) and not name.endswith("seconds"):
                    item[name] = np.asarray(obj[()])

            g.visititems(visit)
            points[pid] = item
        out["points"] = points
    return out


def assert_same_results(a: Path, b: Path):
    ra, rb = load(a), load(b)
    pd.testing.assert_frame_equal(ra["summary"], rb["summary"])
    assert sorted(ra["points"]) == sorted(rb["points"])
    for pid, pa in ra["points"].items():
        pb = rb["points"][pid]
        assert sorted(pa) == sorted(pb), pid
        for k in pa:
            if k == "attrs":
                assert pa[k] == pb[k], pid
            else:
                np.testing.assert_array_equal(pa[k], pb[k], err_msg=f"{pid}/{k}")


def point_files(d: Path):
    return sorted(p.name for p in (d / "points").glob("*.h5"))


# ---- dry run, ids, collapsing ----

def test_dry_run_counts_collapsing_and_lists_points(tmp_path):
    cfg = write(tmp_path / "small.ini", SMALL)
    p = loftlab("sweep", cfg, "--dry-run", cwd=tmp_path)
    assert "24 grid combinations -> 18 points; 0 complete, 18 to run" in p.stdout
    ids = dry_run_ids(p.stdout)
    assert len(ids) == 18 == len(set(ids)) and ids == sorted(ids)
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    qlora_rows = [l for l in p.stdout.splitlines() if " qlora " in l]
    assert len(qlora_rows) == 2  # nf2 and nf4; rank and steps dropped
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


def test_dry_run_shows_what_varies_and_lists_the_rest_once(tmp_path):
    cfg = write(tmp_path / "small.ini", SMALL)
    out = loftlab("sweep", cfg, "--dry-run", cwd=tmp_path).stdout.splitlines()
    header = next(l for l in out if l.startswith("#"))
    columns = header.split()
    assert columns[:7] == ["#", "id", "status", "method", "quant", "rank", "steps"]
    assert "source" not in columns and "layers" not in columns  # the same in every point
    shared = next(l for l in out if l.startswith("in every point: "))
    assert "source=synthetic:gaussian:shape=64x64:count=3:seed=5" in shared and "layers=*" in shared
    assert all(len(l) <= 120 for l in out[out.index(header):]), "the table fits 120 columns"
    # qlora has no steps: its rows show "-" there ("to run" is two words of the status)
    qlora = [l.split() for l in out if " qlora " in l]
    assert qlora and all(r[columns.index("steps") + 1] == "-" for r in qlora)
    # --all: every parameter a column, nothing listed above, the same ids in the same order
    full = loftlab("sweep", cfg, "--dry-run", "--all", cwd=tmp_path).stdout
    columns = next(l for l in full.splitlines() if l.startswith("#")).split()
    assert {"source", "layers", "svd", "method", "steps"} <= set(columns)
    assert "in every point" not in full
    assert dry_run_ids(full) == dry_run_ids("\n".join(out))
    p = loftlab("sweep", cfg, "--all", cwd=tmp_path, ok=False)
    assert "--all" in p.stderr and "--dry-run" in p.stderr


def test_loftq_with_zero_steps_is_qlora(tmp_path):
    cfg = write(tmp_path / "z.ini", SMALL)
    p = loftlab("sweep", cfg, "--dry-run", "--set", "grid.method=qlora,loftq",
                "--set", "grid.steps=0", cwd=tmp_path)
    # loftq x steps 0 == qlora: 2 methods x 2 quants x 2 ranks -> one point per quantizer
    assert "8 grid combinations -> 2 points" in p.stdout


def test_ids_are_stable_across_runs_and_grid_order(tmp_path):
    cfg = write(tmp_path / "a.ini", SMALL)
    ids = dry_run_ids(loftlab("sweep", cfg, "--dry-run", cwd=tmp_path).stdout)
    # Same points, axes and values listed in another order, whitespace changed, the spec
    # written non-canonically (nf4:b64 is nf4): the same ids in the same order.
    shuffled = write(tmp_path / "b.ini", """name = small
experiment = residual
layers = *
source = synthetic:gaussian:shape=64x64:count=3:seed=5
[grid]
steps  = 3,1
rank   = 4, 2
quant  = nf4:b64, nf2
method = qpissa, qlora, loftq
""")
    assert dry_run_ids(loftlab("sweep", shuffled, "--dry-run", cwd=tmp_path).stdout) == ids
    # A known point's id is a contract (results folders on disk are keyed by it): FNV-1a 64 of
    # the canonical "key=value;" text of its normalised parameters, top 48 bits in hex.
    one = write(tmp_path / "one.ini", """name = one
experiment = residual
source = synthetic:gaussian:shape=64x64:count=3:seed=5
method = loftq
quant = nf2
rank = 8
steps = 5
""")
    canonical = ("bits=2;experiment=residual;layers=*;method=loftq;quant=nf2;rank=8;"
                 r"source=synthetic:gaussian:shape\=64x64:count\=3:seed\=5;steps=5;stop=none;"
                 "svd=exact;")
    assert dry_run_ids(loftlab("sweep", one, "--dry-run", cwd=tmp_path).stdout) == \
        [f"{fnv1a64(canonical.encode()) >> 16:012x}"]


# ---- running, resuming, reading ----

def test_run_writes_layout_resumes_and_reads_with_pandas(tmp_path):
    cfg = write(tmp_path / "small.ini", SMALL)
    p = loftlab("sweep", cfg, cwd=tmp_path)
    d = tmp_path / "results" / "small"
    assert "ran 18 points (0 failed)" in p.stdout
    assert p.stderr == ""  # not a terminal: no progress lines
    assert len(point_files(d)) == 18
    assert "[grid]" in (d / "config.ini").read_text()
    with h5py.File(d / "results.h5", "r") as f:
        df = pd.DataFrame(f["summary"][:])
        assert len(df) == 18 and df["id"].is_unique
        assert {"id", "method", "quant", "err_reduction_fro", "err_reduction_nuclear",
                "mean_residual_rel", "bits_per_weight"} <= set(df.columns)
        df["method"] = df["method"].str.decode("utf-8")
        assert (df[df.method == "qlora"].err_reduction_fro == 0).all()
        assert (df[df.method != "qlora"].err_reduction_fro > 0).all()
        for pid, g in f["points"].items():
            assert g.attrs["status"] == "complete"
            steps = int(g.attrs["steps"]) if "steps" in g.attrs else 0
            layers = g["layers"]
            assert sorted(layers) == [f"synthetic.{i}.weight" for i in range(3)]
            for t in layers.values():
                for name in ("residual_fro", "residual_rel", "residual_vs_qlora",
                             "residual_nuclear", "seconds"):
                    assert t[name].shape == (steps + 1,), (pid, name)
    mtimes = {n: (d / "points" / n).stat().st_mtime_ns for n in point_files(d)}
    again = loftlab("sweep", cfg, cwd=tmp_path)
    assert "ran 0 points (0 failed), 18 already complete" in again.stdout
    assert mtimes == {n: (d / "points" / n).stat().st_mtime_ns for n in point_files(d)}
    dry = loftlab("sweep", cfg, "--dry-run", cwd=tmp_path).stdout
    assert "18 complete, 0 to run" in dry


def test_jobs_do_not_change_results(tmp_path):
    cfg = write(tmp_path / "small.ini", SMALL)
    loftlab("sweep", cfg, "--jobs", "1", "--out", "j1", cwd=tmp_path)
    loftlab("sweep", cfg, "--jobs", "2", "--out", "j2", cwd=tmp_path)
    assert_same_results(tmp_path / "j1" / "results.h5", tmp_path / "j2" / "results.h5")


def test_failed_points_are_stored_as_failed_listed_and_retried(tmp_path):
    # rank 80 exceeds the 64x64 matrices: those points fail when they run; qlora ignores rank.
    cfg = write(tmp_path / "f.ini", SMALL.replace("rank   = 2, 4", "rank   = 2, 80"))
    p = loftlab("sweep", cfg, cwd=tmp_path, ok=False)
    assert p.returncode == 1
    assert "8 point(s) failed" in p.stderr and "rank" in p.stderr
    d = tmp_path / "results" / "small"
    with h5py.File(d / "results.h5", "r") as f:
        df = pd.DataFrame(f["summary"][:])
        status = df.set_index(df.id.str.decode("utf-8"))["status"].str.decode("utf-8")
        assert (status == "failed").sum() == 8 and (status == "complete").sum() == 10
        for pid in status[status == "failed"].index:
            g = f["points"][pid]
            assert int(g.attrs["rank"]) == 80 and "rank" in g.attrs["error"]
            assert "metrics" not in g or len(g["metrics"]) == 0
    again = loftlab("sweep", cfg, cwd=tmp_path, ok=False)
    assert "ran 8 points (8 failed), 10 already complete" in again.stdout


def test_relative_paths_resolve_against_the_current_directory(tmp_path):
    w = np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32)
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "w.npy", w)
    cfg = write(tmp_path / "configs" / "rel.ini", """name = rel
experiment = residual
source = npy:data/w.npy
method = loftq
quant = nf4
rank = 4
""")
    p = loftlab("sweep", "configs/rel.ini", cwd=tmp_path)
    assert "ran 1 points" in p.stdout
    with h5py.File(tmp_path / "results" / "rel" / "results.h5", "r") as f:
        assert list(f["points"][dry_run_ids(loftlab("sweep", cfg, "--dry-run",
                                                   cwd=tmp_path).stdout)[0]]["layers"]) == ["w"]
    # From the config's own folder the same text means configs/data/w.npy: missing.
    p = loftlab("sweep", "rel.ini", "--dry-run", cwd=tmp_path / "configs", ok=False)
    assert p.returncode != 0 and "data/w.npy" in p.stderr


# ---- bad configs ----

BAD = {
    "unknown key": (SMALL.replace("rank   =", "rnak   ="),
                    ["'rnak'", "did you mean 'rank'", "bad.ini:10"]),
    "bad value": (SMALL.replace("rank   = 2, 4", "rank   = 2, four"), ["rank", "four"]),
    "bad quantizer": (SMALL.replace("nf2, nf4", "nf2, nf5"), ["quant", "nf5"]),
    "empty grid": (SMALL.replace("rank   = 2, 4", "rank   ="), ["'rank' has no values"]),
    "empty grid item": (SMALL.replace("rank   = 2, 4", "rank   = 2,,4"), ["empty value"]),
    "missing source file": (SMALL.replace("synthetic:gaussian:shape=64x64:count=3:seed=5",
                                          "hf:no/such/folder"), ["no/such/folder"]),
    "glob matching nothing": (SMALL.replace("layers     = *", "layers     = *.q_proj.*"),
                              ["*.q_proj.*", "matches no tensor"]),
    "unknown experiment": (SMALL.replace("= residual", "= residul"), ["residul", "residual"]),
    "unknown section": (SMALL.replace("[grid]", "[grdi]"), ["[grdi]"]),
    "duplicate key": (SMALL + "rank = 8\n", ["twice", "rank"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_configs_exit_nonzero_naming_the_problem(tmp_path, case):
    text, needles = BAD[case]
    cfg = write(tmp_path / "bad.ini", text)
    for extra in (["--dry-run"], []):
        p = loftlab("sweep", cfg, *extra, cwd=tmp_path, ok=False)
        assert p.returncode != 0, case
        for n in needles:
            assert n in p.stderr, f"{case}: {n!r} not in {p.stderr!r}"
    assert not (tmp_path / "results").exists()


def test_bad_command_lines(tmp_path):
    cfg = write(tmp_path / "small.ini", SMALL)
    for args, needle in ((["--shard", "2/2"], "0 <= I < N"), (["--set", "model.rank=4"], "'model'"),
                         (["--jobs", "0"], "--jobs"), (["--set", "grid.rnk=4"], "'rnk'")):
        p = loftlab("sweep", cfg, "--dry-run", *args, cwd=tmp_path, ok=False)
        assert p.returncode != 0 and needle in p.stderr, (args, p.stderr)
    p = loftlab("sweep", "missing.ini", cwd=tmp_path, ok=False)
    assert p.returncode != 0 and "missing.ini" in p.stderr
    assert "--shard" in loftlab("sweep", "--help", cwd=tmp_path).stdout


# ---- crashes, concurrency, shards, MPI ----

def start(cfg, *args, cwd):
    return subprocess.Popen([BIN, "sweep", str(cfg), *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_points(d: Path, n: int, proc, timeout=60):
    t0 = time.time()
    while len(point_files(d)) < n:
        assert proc.poll() is None, "the sweep ended before the test could interrupt it"
        assert time.time() - t0 < timeout
        time.sleep(0.01)


def test_kill_9_then_rerun_equals_an_uninterrupted_run(tmp_path):
    cfg = write(tmp_path / "slow.ini", SLOW)
    d = tmp_path / "results" / "slow"
    proc = start(cfg, "--jobs", "2", cwd=tmp_path)
    wait_for_points(d, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = point_files(d)
    assert 3 <= len(done) < 18
    for name in done:  # every point file there is whole
        with h5py.File(d / "points" / name, "r") as f:
            assert f["points"][name[:-3]].attrs["status"] == "complete"
    p = loftlab("sweep", cfg, "--jobs", "2", cwd=tmp_path)  # the dead run's lock does not block
    assert f"{len(done)} already complete" in p.stdout
    assert len(point_files(d)) == 18
    assert not [x for x in (d / "points").iterdir() if x.name.startswith(".")]  # no temporaries
    with h5py.File(d / "results.h5", "r") as f:
        ids = [i.decode() for i in f["summary"]["id"]]
        assert len(ids) == len(set(ids)) == 18
    loftlab("sweep", cfg, "--jobs", "2", "--out", "clean", cwd=tmp_path)
    assert_same_results(d / "results.h5", tmp_path / "clean" / "results.h5")


def test_a_second_sweep_on_the_same_folder_is_refused(tmp_path):
    cfg = write(tmp_path / "slow.ini", SLOW)
    d = tmp_path / "results" / "slow"
    first = start(cfg, cwd=tmp_path)
    wait_for_points(d, 1, first)
    second = loftlab("sweep", cfg, cwd=tmp_path, ok=False)
    assert second.returncode != 0
    assert "in use by another sweep" in second.stderr
    shard = loftlab("sweep", cfg, "--shard", "1/2", cwd=tmp_path, ok=False)
    assert shard.returncode != 0 and "full (unsharded) sweep is running" in shard.stderr
    assert first.wait(timeout=120) == 0
    assert len(point_files(d)) == 18


def test_a_full_sweep_is_refused_while_a_shard_runs(tmp_path):
    cfg = write(tmp_path / "slow.ini", SLOW)
    d = tmp_path / "results" / "slow"
    shard = start(cfg, "--shard", "0/2", cwd=tmp_path)
    wait_for_points(d, 1, shard)
    full = loftlab("sweep", cfg, cwd=tmp_path, ok=False)
    assert full.returncode != 0 and "shard 0-of-2 is running" in full.stderr
    assert loftlab("sweep", cfg, "--shard", "1/2", cwd=tmp_path).returncode == 0
    assert shard.wait(timeout=120) == 0
    assert len(point_files(d)) == 18


def test_shards_then_merge_equal_one_run(tmp_path):
    cfg = write(tmp_path / "small.ini", SMALL)
    # Both shards at once: each locks only its own shard.
    procs = [start(cfg, "--shard", f"{i}/2", "--out", "sharded", cwd=tmp_path) for i in (0, 1)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "loftlab merge" in outs[0][0]
    d = tmp_path / "sharded"
    assert not (d / "results.h5").exists()  # shards do not merge
    assert len(point_files(d)) == 18
    ids = dry_run_ids(loftlab("sweep", cfg, "--dry-run", cwd=tmp_path).stdout)
    shard0 = dry_run_ids(loftlab("sweep", cfg, "--dry-run", "--shard", "0/2",
                                 cwd=tmp_path).stdout)
    assert shard0 == ids  # the listing shows every point, marking the other shard's
    loftlab("merge", d, cwd=tmp_path)
    loftlab("sweep", cfg, "--out", "single", cwd=tmp_path)
    assert_same_results(d / "results.h5", tmp_path / "single" / "results.h5")


def test_mpirun_two_ranks_equal_one_run(tmp_path):
    mpirun = shutil.which("mpirun")
    if not mpirun:
        pytest.skip("mpirun not found (Debian package openmpi-bin)")
    cfg = write(tmp_path / "small.ini", SMALL)
    p = subprocess.run([mpirun, "--allow-run-as-root", "--oversubscribe", "-n", "2",
                        "-x", "OMP_NUM_THREADS=1", BIN, "sweep", str(cfg), "--out", "mpi"],
                       cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("ran 18 points") == 1  # rank 0 reports and merges once
    loftlab("sweep", cfg, "--out", "single", cwd=tmp_path)
    assert_same_results(tmp_path / "mpi" / "results.h5", tmp_path / "single" / "results.h5")
