"""Chaos: a sweep, a merge and an init-model run killed with SIGKILL at 20 random moments (seeded,
replays), resumed each time, and the same on a full disk. The final results must equal those of an
uninterrupted run exactly (every point, every dataset and attribute but wall times and the
host), with no point lost or duplicated, and no partial or temporary file left at any moment."""
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from cli_support import (BIN, ENV, loftlab, out_of_space, require_binary,  # noqa: F401
                         small_disk, write)

# 48 points of a few tens of milliseconds each: enough work for 20 kills to meet.
CONFIG = """name = chaos
experiment = residual
source = synthetic:lowrank:shape=128x96:count=3:seed=4
[grid]
method = loftq, qpissa
quant = nf2, nf3, nf4
rank = 2, 4, 8, 12
steps = 4, 5
svd = exact
"""

# Whatever differs between two runs of the same point: wall times, the host, creation times.
VOLATILE = {"seconds", "host", "created"}



def content(f):
    """Every attribute and dataset of an open HDF5 file but the volatile ones, as comparable text."""
    out = {"/": {k: str(v) for k, v in f.attrs.items() if k not in VOLATILE}}

    def visit(name, obj):
        if name.split("/")[-1] in VOLATILE:
            return
        out[name] = {k: str(v) for k, v in obj.attrs.items() if k not in VOLATILE}
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            if data.dtype.names:  # /summary: drop its volatile columns
                data = {n: data[n].tolist() for n in data.dtype.names if n not in VOLATILE}
            out[name + "#data"] = repr(np.asarray(data).tolist() if not isinstance(data, dict)
                                       else data)
    f.visititems(visit)
    return out


def points_of(out: Path):
    """{id: content} of every point file; each must be a whole, valid point."""
    points = {}
    for p in sorted((out / "points").glob("*.h5")):
        with h5py.File(p) as f:
            (pid,) = f["points"]
            assert pid == p.stem and f["points"][pid].attrs["status"] == "complete"
            points[pid] = content(f)
    return points


def check_consistent(out: Path):
    """What must hold whenever a process was killed: only whole point files, a results.h5 that
    opens and holds only known points."""
    points_of(out)
    if (out / "results.h5").exists():
        with h5py.File(out / "results.h5") as f:
            assert set(f["points"]) <= {p.stem for p in (out / "points").glob("*.h5")}


def stored(out: Path) -> int:
    return len(list((out / "points").glob("*.h5"))) if (out / "points").is_dir() else 0


def start(args, cwd, preexec=None):
    return subprocess.Popen([BIN, *map(str, args)], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=preexec)


def kill_at(proc, delay):
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def reference(tmp_path):
    """An uninterrupted run: its points, its merged file, and how long it took to start (a dry
    run) and to run."""
    write(tmp_path / "chaos.ini", CONFIG)
    t0 = time.time()
    loftlab("sweep", "chaos.ini", "--dry-run", "--out", "ref", cwd=tmp_path, ok=True)
    startup = time.time() - t0
    t0 = time.time()
    loftlab("sweep", "chaos.ini", "--out", "ref", cwd=tmp_path, ok=True, timeout=120)
    seconds = time.time() - t0
    with h5py.File(tmp_path / "ref" / "results.h5") as f:
        merged = content(f)
    return points_of(tmp_path / "ref"), merged, startup, seconds


def finish_and_compare(tmp_path, out, ref_points, ref_merged):
    loftlab("sweep", "chaos.ini", "--out", out, cwd=tmp_path, ok=True, timeout=120)
    loftlab("merge", out, cwd=tmp_path, ok=True)
    assert not [p for p in out.rglob("*") if ".tmp." in p.name], "a temporary was left"
    points = points_of(out)
    assert sorted(points) == sorted(ref_points)  # none lost, none extra
    for pid, c in ref_points.items():
        assert points[pid] == c, pid
    with h5py.File(out / "results.h5") as f:
        merged = content(f)
        assert sorted(f["points"]) == sorted(ref_points)  # each point once
    assert merged == ref_merged


def test_sweeps_and_merges_killed_at_random_moments_lose_nothing(tmp_path):
    ref_points, ref_merged, startup, seconds = reference(tmp_path)
    out = tmp_path / "chaos"
    rng = random.Random(20261201)
    kills = 0
    for round in range(20):
        if round % 4 == 3 and (out / "points").is_dir():
            proc = start(["merge", out], tmp_path)
            code, err = kill_at(proc, rng.uniform(0, 0.15))
        elif round % 2:
            proc = start(["sweep", "chaos.ini", "--out", out], tmp_path)
            # A moment in its start-up plus a small share of the work, so the kills land all
            # along the sweep (start-up and lock included) before the points run out.
            code, err = kill_at(proc, rng.uniform(0, startup + 0.08 * (seconds - startup)))
        else:
            # Just after a new point file appears, however slow the machine is today: these
            # kills meet the sweep at work, between points or inside the next one.
            before = stored(out)
            proc = start(["sweep", "chaos.ini", "--out", out], tmp_path)
            deadline = time.time() + 60
            while stored(out) == before and proc.poll() is None and time.time() < deadline:
                time.sleep(0.002)
            code, err = kill_at(proc, rng.uniform(0, 0.05))
        assert code in (0, -signal.SIGKILL), (round, code, err)
        kills += code == -signal.SIGKILL
        check_consistent(out)
    assert kills >= 15, f"only {kills} of 20 rounds were killed mid-way"
    # ... and not all before the first point: the kills met a sweep at work.
    done = len(list((out / "points").glob("*.h5")))
    assert 0 < done, "no point was stored before the kills"
    print(f"reference run {seconds:.2f} s, {kills} kills, {done} of {len(ref_points)} points")
    finish_and_compare(tmp_path, out, ref_points, ref_merged)


def test_a_sweep_on_a_full_disk_resumes_to_the_same_results(tmp_path):
    ref_points, ref_merged, _, seconds = reference(tmp_path)
    with small_disk(tmp_path / "disk", 4096, 8) as (disk, preexec, kind):
        out = disk / "out"
        filler = disk / "filler"
        rng = random.Random(7)
        full = 0
        for round in range(8):
            if kind == "tmpfs":  # fill the disk but for room for a point or two
                filler.unlink(missing_ok=True)
                free = shutil.disk_usage(disk).free
                filler.write_bytes(b"\0" * max(0, free - rng.randint(20, 60) * 1024))
            proc = start(["sweep", "chaos.ini", "--out", out], tmp_path,
                         preexec if kind != "tmpfs" else None)
            if round % 2:
                code, err = kill_at(proc, rng.uniform(0, seconds))
            else:
                _, err = proc.communicate(timeout=120)
                code = proc.returncode
            assert code in (0, 1, -signal.SIGKILL), (code, err)
            if code == 1:
                assert out_of_space(err), err
                full += 1
            check_consistent(out)
        assert full >= 2, f"only {full} runs met the full disk ({kind})"
        print(f"{kind}: {full} of 8 runs stopped by the full disk")
        filler.unlink(missing_ok=True)
        finish_and_compare(tmp_path, out, ref_points, ref_merged)


def test_init_model_killed_at_random_moments_exports_the_same_bytes(tmp_path):
    """init-model on a small sharded folder, killed with SIGKILL at 20 random moments and resumed
    each time: the export equals an uninterrupted run's byte for byte, and at no moment is there
    a half-written output folder."""
    from test_init_model import digest, make_folder
    src = make_folder(tmp_path / "src", layers=24)
    args = ["init-model", f"hf:{src}", "--rank", "8", "--steps", "8"]
    t0 = time.time()
    loftlab(*args, "--out", tmp_path / "ref", cwd=tmp_path, ok=True, timeout=300)
    seconds = time.time() - t0
    ref = digest(tmp_path / "ref")
    out = tmp_path / "cut"
    staged = tmp_path / ".cut.partial" / "tensors"

    def staged_count():
        return len(list(staged.glob("*.safetensors"))) if staged.is_dir() else 0

    rng = random.Random(20261202)
    kills, most_staged = 0, 0
    for round in range(20):
        if out.exists():
            break
        before = staged_count()
        proc = start([*args, "--out", out], tmp_path)
        if round % 2:  # any moment of a small share of the run, start-up included
            code, err = kill_at(proc, rng.uniform(0, 0.1 * seconds))
        else:  # just after a tensor is staged: the run is at work
            deadline = time.time() + 60
            while staged_count() == before and proc.poll() is None and time.time() < deadline:
                time.sleep(0.002)
            code, err = kill_at(proc, rng.uniform(0, 0.02))
        assert code in (0, -signal.SIGKILL), (round, code, err)
        kills += code == -signal.SIGKILL
        most_staged = max(most_staged, staged_count())
        if out.exists():  # the folder appears only whole
            assert digest(out) == ref, round
    assert kills >= 15, f"only {kills} of 20 rounds were killed mid-way (run {seconds:.2f} s)"
    assert most_staged >= 5, "the kills did not meet the run at work"
    if not out.exists():
        loftlab(*args, "--out", out, cwd=tmp_path, ok=True, timeout=300)
    assert digest(out) == ref
    assert not [p for p in tmp_path.rglob("*") if ".tmp." in p.name], "a temporary was left"
    print(f"init-model reference {seconds:.2f} s, {kills} kills, {most_staged} of 48 tensors "
          "staged at most before the export was whole")
