"""`loftlab quantizers`: the registry listing, one line per quantizer row."""
import os
import subprocess
from pathlib import Path

BIN = os.environ.get("LOFTLAB_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "loftlab")


def run(*args):
    return subprocess.run([BIN, "quantizers", *args], capture_output=True, text=True, timeout=60)


def test_lists_every_quantizer_with_storage_cost():
    r = run()
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    for name in ["nf2", "nf3", "nf4", "nf8", "fp4", "int2", "int8", "int4:asym", "uniform2",
                 "uniform8"]:
        assert name in rows
    assert rows["nf4"][1] == "4"
    assert float(rows["nf4"][2]) == 4.5
    assert abs(float(rows["nf4"][3]) - 4.127) < 5e-4
    assert float(rows["nf2"][2]) == 2.5


def test_names_match_the_listing_and_block_option():
    names = run("--names").stdout.split()
    assert names[:4] == ["nf2", "nf3", "nf4", "nf8"]
    listing = run("--block", "128").stdout.splitlines()
    assert [line.split()[0] for line in listing[1:]] == names
    assert float(listing[1 + names.index("nf4")].split()[2]) == 4.25


def test_help_and_bad_options():
    r = run("--help")
    assert r.returncode == 0
    assert "--block" in r.stdout
    r = run("--block", "12")
    assert r.returncode != 0
    assert "multiple of 8" in r.stderr
    r = run("--bogus")
    assert r.returncode != 0
    assert "--help" in r.stderr
