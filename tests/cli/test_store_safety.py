"""The results folder through the CLI: nothing is written through a link, merge and sweep
exclude each other, a failed write leaves nothing complete-looking, and only verified point
files count as complete."""
import os

import h5py
import numpy as np
import pytest

from cli_support import loftlab, need_binary, write

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
