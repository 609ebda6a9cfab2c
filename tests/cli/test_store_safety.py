"""The results folder through the CLI: nothing is written through a link, merge and sweep
exclude each other, a failed write leaves nothing complete-looking, and only verified point
files count as complete."""
import os

import h5py
import numpy as np
import pytest

from cli_support import loftlab, need_binary, write
from test_sweep import SLOW  # about 0.1 s a point: slow enough for a merge to meet it

pytestmark = pytest.mark.usefixtures("binary")

TINY = """name = tiny
experiment = residual
source = synthetic:gaussian:shape=32x32:count=2:seed=1
[grid]
method = qlora, loftq
quant = nf2, nf4
rank = 2
"""


@pytest.fixture
def binary():
    need_binary()


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
