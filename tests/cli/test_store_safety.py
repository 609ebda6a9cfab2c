"""The results folder through the CLI: nothing is written through a link, merge and sweep
exclude each other, a failed write leaves nothing complete-looking, and only verified point
files count as complete."""
import os

import h5py
import numpy as np
import pytest

from cli_support import edited_h5, loftlab, require_binary, write  # noqa: F401 (autouse fixture)
from test_sweep import SLOW  # about 0.1 s a point: slow enough for a merge to meet it

TINY = """name = tiny
experiment = residual
source = synthetic:gaussian:shape=32x32:count=2:seed=1
[grid]
method = qlora, loftq
quant = nf2, nf4
rank = 2
"""



def test_lock_and_config_links_are_never_written_through(tmp_path):
    victim = write(tmp_path / "victim.txt", "precious\n")
    out = tmp_path / "results" / "tiny"
    out.mkdir(parents=True)
    (out / ".sweep.lock").symlink_to(victim)
    write(tmp_path / "tiny.ini", TINY)
    p = loftlab("sweep", "tiny.ini", cwd=tmp_path, ok=False)
    assert ".sweep.lock" in p.stderr and "symbolic link" in p.stderr
    assert victim.read_text() == "precious\n"
    (out / ".sweep.lock").unlink()
    (out / "config.ini").symlink_to(victim)
    loftlab("sweep", "tiny.ini", cwd=tmp_path, ok=True)
    assert victim.read_text() == "precious\n"
    assert not (out / "config.ini").is_symlink()
    assert "name = tiny" in (out / "config.ini").read_text()


def test_merge_is_refused_while_a_sweep_runs_and_the_sweeps_merge_wins(tmp_path):
    import subprocess
    import time
    from cli_support import BIN, ENV
    write(tmp_path / "slow.ini", SLOW)
    out = tmp_path / "results" / "slow"
    sweep = subprocess.Popen([BIN, "sweep", "slow.ini"], cwd=tmp_path, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not list((out / "points").glob("*.h5")) and time.time() < deadline:
            time.sleep(0.02)
        merge = loftlab("merge", out, cwd=tmp_path)
        running = sweep.poll() is None
    finally:
        stdout, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 0, stderr
    assert running, "the sweep ended before the merge could meet it"
    assert merge.returncode == 1 and "in use" in merge.stderr, merge.stderr
    assert "loftlab sweep" in merge.stderr
    with h5py.File(out / "results.h5") as f:
        assert len(f["points"]) == 18 == len(list((out / "points").glob("*.h5")))
    assert "merged 18 points" in stdout


def dry_ids(tmp_path, config, *args):
    out = loftlab("sweep", config, *args, "--dry-run", cwd=tmp_path, ok=True).stdout.splitlines()
    start = next(i for i, l in enumerate(out) if l.startswith("#"))
    return [l.split()[1] for l in out[start + 1:] if l.strip()]


def test_only_verified_point_files_count_as_complete(tmp_path):
    write(tmp_path / "tiny.ini", TINY)
    points = tmp_path / "results/tiny/points"
    loftlab("sweep", "tiny.ini", cwd=tmp_path, ok=True)
    a, b, c, d = dry_ids(tmp_path, "tiny.ini")[:4]
    with edited_h5(points / f"{a}.h5") as f:
        del f[f"points/{a}"].attrs["status"]
    with edited_h5(points / f"{b}.h5") as f:
        f[f"points/{b}"].attrs["method"] = "lora"  # no longer the point its id says
    (points / f"{c}.h5").write_bytes(b"garbage")
    with h5py.File(points / f"{d}.h5", "a") as f:  # an edit that leaves the seal as it was
        f[f"points/{d}"].attrs["note"] = "edited"
    p = loftlab("sweep", "tiny.ini", cwd=tmp_path, ok=True)
    assert "ran 4 points" in p.stdout, p.stdout
    assert "no 'status' attribute" in p.stderr
    assert f"{c}.h5 was not written whole by loftlab" in p.stderr
    assert f"{d}.h5 is damaged" in p.stderr or f"{d}.h5 was not written whole" in p.stderr
    for pid in (a, b, c, d):
        assert f"{pid}.h5 is not a valid point file" in p.stderr
        with h5py.File(points / f"{pid}.h5") as f:
            assert f[f"points/{pid}"].attrs["status"] == "complete"
    # merge checks that a file's id is the hash of its parameters
    with edited_h5(points / f"{b}.h5") as f:
        f[f"points/{b}"].attrs["method"] = "lora"
    p = loftlab("merge", "results/tiny", cwd=tmp_path, ok=False)
    assert b in p.stderr and "renamed or edited" in p.stderr


def test_a_folder_at_a_point_name_is_an_error_before_any_work(tmp_path):
    write(tmp_path / "tiny.ini", TINY)
    ids = dry_ids(tmp_path, "tiny.ini")
    points = tmp_path / "results/tiny/points"
    (points / f"{ids[-1]}.h5").mkdir(parents=True)
    p = loftlab("sweep", "tiny.ini", cwd=tmp_path, ok=False)
    assert f"{ids[-1]}.h5 is a folder" in p.stderr
    assert sorted(x.name for x in points.iterdir()) == [f"{ids[-1]}.h5"]  # nothing ran
    assert not (tmp_path / "results/tiny/config.ini").exists()  # nor was provenance written


def test_config_ini_is_written_only_after_a_point_is_stored(tmp_path):
    write(tmp_path / "tiny.ini", TINY)
    out = tmp_path / "results/tiny"
    loftlab("sweep", "tiny.ini", cwd=tmp_path, ok=True)
    first = (out / "config.ini").read_text()
    # Another grid into the same folder, blocked before its first point: config.ini stays.
    args = ["--set", "grid.rank=3"]
    fresh = sorted(set(dry_ids(tmp_path, "tiny.ini", *args)) - set(dry_ids(tmp_path, "tiny.ini")))
    (out / "points" / f"{fresh[0]}.h5").mkdir()
    loftlab("sweep", "tiny.ini", *args, cwd=tmp_path, ok=False)
    assert (out / "config.ini").read_text() == first
    (out / "points" / f"{fresh[0]}.h5").rmdir()
    loftlab("sweep", "tiny.ini", *args, cwd=tmp_path, ok=True)
    assert "rank = 3" in (out / "config.ini").read_text()


def test_points_deleted_during_a_run_is_an_error_exit(tmp_path):
    import shutil
    import subprocess
    import time
    from cli_support import BIN, ENV
    write(tmp_path / "slow.ini", SLOW)
    points = tmp_path / "results/slow/points"
    sweep = subprocess.Popen([BIN, "sweep", "slow.ini"], cwd=tmp_path, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while len(list(points.glob("*.h5"))) < 2 and time.time() < deadline:
        time.sleep(0.02)
    shutil.rmtree(points)
    stdout, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 1, stdout + stderr
    assert "no longer in" in stderr and "run the sweep again" in stderr
    p = loftlab("sweep", "slow.ini", cwd=tmp_path, ok=True, timeout=120)
    assert "merged 18 points" in p.stdout


def test_a_full_disk_is_an_error_exit_that_leaves_only_valid_points(tmp_path):
    from cli_support import out_of_space, small_disk
    write(tmp_path / "slow.ini", SLOW)
    with small_disk(tmp_path / "disk", 200, 16) as (disk, preexec, kind):
        p = loftlab("sweep", "slow.ini", "--out", disk / "r", cwd=tmp_path, ok=False,
                    preexec_fn=preexec)
        assert out_of_space(p.stderr), (kind, p.stderr)
        left = sorted(x.name for x in (disk / "r").rglob("*"))
        assert not any(".tmp." in n for n in left), left
        assert "results.h5" not in left  # the sweep did not get to merge
        for f in (disk / "r" / "points").glob("*.h5"):
            with h5py.File(f) as h:
                (pid,) = h["points"]
                assert h["points"][pid].attrs["status"] == "complete"
        # merge on the full disk: an error too, and no results.h5 appears
        m = loftlab("merge", disk / "r", cwd=tmp_path, preexec_fn=preexec)
        if m.returncode:
            assert m.returncode == 1 and out_of_space(m.stderr), m.stderr
            assert not (disk / "r" / "results.h5").exists()
