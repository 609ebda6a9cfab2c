"""End to end through the CLI: `loftlab init-matrix` on small synthetic .npy matrices.

Covers the JSON contract (trace lengths per method, LoftQ below QLoRA, steps 0 == QLoRA), --save
(Q + s B A reproduces the reported residual, recomputed with numpy), the accepted dtypes, and the
errors for bad inputs (each must exit non-zero and name the problem). No shared data needed.
"""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

BIN = os.environ.get("LOFTLAB_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "loftlab")
ENV = {**os.environ, "OMP_NUM_THREADS": "2"}


@pytest.fixture(autouse=True)
def need_binary():
    if not os.path.exists(BIN):
        pytest.skip(f"loftlab binary not found at {BIN} (set LOFTLAB_BIN)")


def run(*args, cwd):
    return subprocess.run([BIN, "init-matrix", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=60)


def init_json(*args, cwd):
    p = run(*args, cwd=cwd)
    assert p.returncode == 0, f"init-matrix {' '.join(map(str, args))}:\n{p.stdout}\n{p.stderr}"
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one JSON line on stdout, got:\n{p.stdout}"
    return json.loads(lines[0])


@pytest.fixture
def w_npy(tmp_path):
    """A 48 x 32 Gaussian weight (std 0.02, like a real layer), rectangular to catch transposes."""
    w = (np.random.default_rng(0).standard_normal((48, 32)) * 0.02).astype(np.float32)
    path = tmp_path / "W.npy"
    np.save(path, w)
    return path, w


def test_trace_lengths_and_loftq_below_qlora(tmp_path, w_npy):
    path, w = w_npy
    common = ["--npy", path, "--quant", "nf2", "--rank", 4]
    loftq = init_json(*common, "--method", "loftq", "--steps", 3, cwd=tmp_path)
    qlora = init_json(*common, "--method", "qlora", cwd=tmp_path)
    lora = init_json(*common, "--method", "lora", cwd=tmp_path)

    for key in ("residual_fro", "residual_rel", "residual_vs_qlora", "seconds"):
        assert len(loftq[key]) == 4, key  # t = 0..T
        assert len(qlora[key]) == 1, key
        assert len(lora[key]) == 1, key
    assert loftq["shape"] == [48, 32]
    assert loftq["bits_per_weight"] > 2 and lora["bits_per_weight"] == 32

    # t = 0 of LoftQ is quantisation alone, i.e. QLoRA's residual; each step then improves on it.
    assert loftq["residual_fro"][0] == pytest.approx(qlora["residual_fro"][0], rel=1e-6)
    assert loftq["residual_fro"][-1] < 0.9 * qlora["residual_fro"][0]
    assert all(b <= a * (1 + 1e-6) for a, b in zip(loftq["residual_fro"], loftq["residual_fro"][1:]))
    # The residual of QLoRA is ||W - q(W)||_F, relative to ||W||_F; LoRA does not quantise.
    norm = float(np.linalg.norm(w.astype(np.float64)))
    assert qlora["residual_rel"][0] == pytest.approx(qlora["residual_fro"][0] / norm, rel=1e-5)
    assert loftq["residual_vs_qlora"][-1] == pytest.approx(
        loftq["residual_fro"][-1] / qlora["residual_fro"][0], rel=1e-5)
    assert lora["residual_fro"] == [0.0]


def test_steps_zero_is_qlora(tmp_path, w_npy):
    path, _ = w_npy
    common = ["--npy", path, "--quant", "nf2", "--rank", 4]
    zero = init_json(*common, "--method", "loftq", "--steps", 0, "--save", tmp_path / "zero",
                     cwd=tmp_path)
    qlora = init_json(*common, "--method", "qlora", "--save", tmp_path / "qlora", cwd=tmp_path)
    assert zero["residual_fro"] == qlora["residual_fro"]
    assert zero["steps_run"] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "zero" / "Q.npy"),
                                  np.load(tmp_path / "qlora" / "Q.npy"))
    # No steps: B = 0, so the adapted model starts exactly at Q.
    assert not np.load(tmp_path / "zero" / "B.npy").any()


@pytest.mark.parametrize("method,steps", [("loftq", 2), ("qpissa", 2), ("qlora", 0)])
def test_saved_factors_reproduce_reported_residual(tmp_path, w_npy, method, steps):
    path, w = w_npy
    rank, alpha = 4, 8  # s = alpha / rank = 2, so a missing scale would show
    out = tmp_path / "factors"
    r = init_json("--npy", path, "--method", method, "--quant", "nf2", "--rank", rank,
                  "--steps", steps, "--alpha", alpha, "--save", out, cwd=tmp_path)
    assert r["scale"] == pytest.approx(alpha / rank)
    q, a, b = (np.load(out / f"{n}.npy") for n in "QAB")
    assert q.dtype == np.float32 and q.shape == w.shape
    assert a.shape == (rank, 32) and b.shape == (48, rank)
    approx = q.astype(np.float64) + r["scale"] * (b.astype(np.float64) @ a.astype(np.float64))
    residual = float(np.linalg.norm(w.astype(np.float64) - approx))
    assert residual == pytest.approx(r["residual_fro"][-1], rel=1e-4)
    # Q is the quantised W: at most 4 distinct levels per 64-value block at nf2.
    blocks = q.reshape(-1, 64)
    assert max(len(np.unique(row)) for row in blocks) <= 4


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_float_dtypes_accepted(tmp_path, w_npy, dtype):
    path, w = w_npy
    other = tmp_path / "W_other.npy"
    np.save(other, w.astype(dtype))
    r = init_json("--npy", other, "--method", "qlora", "--quant", "nf4", cwd=tmp_path)
    ref = init_json("--npy", path, "--method", "qlora", "--quant", "nf4", cwd=tmp_path)
    assert r["shape"] == [48, 32]
    # float16 rounds W a little; the residual of the same matrix must still be close.
    assert r["residual_fro"][0] == pytest.approx(ref["residual_fro"][0], rel=2e-2)


def bad_inputs(tmp_path, w):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4), np.float32))
    np.save(tmp_path / "ints.npy", np.zeros((4, 4), np.int32))
    np.save(tmp_path / "fortran.npy", np.asfortranarray(w))
    assert np.load(tmp_path / "fortran.npy").flags.f_contiguous
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file at all")
    w_path = tmp_path / "W.npy"
    return [
        # (arguments, words the error message must contain)
        (["--npy", tmp_path / "missing.npy"], ["missing.npy"]),
        (["--npy", tmp_path / "cube.npy"], ["cube.npy", "2-D", "(2, 3, 4)"]),
        (["--npy", tmp_path / "ints.npy"], ["ints.npy", "<i4", "float32"]),
        (["--npy", tmp_path / "fortran.npy"], ["fortran.npy", "Fortran"]),
        (["--npy", tmp_path / "junk.npy"], ["junk.npy"]),
        (["--npy", w_path, "--method", "bogus"], ["bogus", "loftq"]),
        (["--npy", w_path, "--quant", "nf9"], ["nf9", "nf4"]),
        (["--npy", w_path, "--quant", "zz4"], ["zz4"]),
        (["--npy", w_path, "--svd", "magic"], ["magic"]),
        (["--npy", w_path, "--rank", 0], ["rank"]),
        (["--npy", w_path, "--stop", "never"], ["never", "rise"]),
        (["--method", "qlora"], ["npy"]),
    ]


def test_bad_inputs_fail_naming_the_problem(tmp_path, w_npy):
    _, w = w_npy
    for args, words in bad_inputs(tmp_path, w):
        p = run(*args, cwd=tmp_path)
        what = f"init-matrix {' '.join(map(str, args))}"
        assert p.returncode != 0, f"{what} succeeded:\n{p.stdout}"
        assert p.returncode < 128, f"{what} crashed (code {p.returncode}):\n{p.stderr}"
        assert p.stdout.strip() == "", f"{what} printed a result:\n{p.stdout}"
        for word in words:
            assert word in p.stderr, f"{what}: '{word}' not in the error:\n{p.stderr}"


def test_help(tmp_path):
    p = run("--help", cwd=tmp_path)
    assert p.returncode == 0
    for word in ("--npy", "--method", "--quant", "--rank", "--steps", "--save", "loftq"):
        assert word in p.stdout, word
