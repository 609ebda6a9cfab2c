"""The data-aware methods through the CLI: qera's closed form against numpy on the whitened
problem (a calibration file written with h5py in the documented layout), `loftlab calibrate`
(H of the real stories260K model is symmetric PSD, the file is kept when the key matches and
refused when it does not), --calib errors, and a sweep that reuses its calibration cache."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cli_support import BIN, ENV, loftlab, require_binary, seal, write  # noqa: F401

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def calib_file(path, h, name="w"):
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "loftlab-calibration"
        for k, v in [("version", 1), ("tokens", 64), ("seq_len", 8), ("seed", 0), ("fisher", 0),
                     ("tokens_used", 64)]:
            f.attrs[k] = np.int64(v)
        for k in ("model", "corpus", "tokenizer"):
            f.attrs[k] = "test"
        f.attrs["seconds"] = 0.0
        f.create_group("h").create_dataset(name, data=h)
    seal(path)


def test_qera_is_the_whitened_optimum(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 24)).astype(np.float32)
    x = rng.standard_normal((80, 24)) * np.linspace(0.2, 3, 24)
    h = x.T @ x
    np.save(tmp_path / "w.npy", w)
    calib_file(tmp_path / "c.h5", h)
    p = loftlab("init-matrix", "--npy", "w.npy", "--method", "qera", "--quant", "nf2", "--rank",
                "4", "--calib", "c.h5", "--calib-layer", "w", "--damping", "0", "--save", "out",
                cwd=tmp_path, ok=True)
    out = json.loads(p.stdout)
    q, a, b = (np.load(tmp_path / "out" / f"{n}.npy").astype(np.float64) for n in "QAB")
    # Independent: symmetric square root of H, Eckart-Young on (W - Q) H^1/2.
    evals, evecs = np.linalg.eigh(h)
    s = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    sv = np.linalg.svd((w - q) @ s, compute_uv=False)
    best = np.sqrt((sv[4:] ** 2).sum())
    got = np.linalg.norm((w - q - b @ a) @ s)
    assert got == pytest.approx(best, rel=1e-5)
    assert out["residual_act"][-1] == pytest.approx(got, rel=1e-5)
    assert out["damping"] == 0
    plain = np.linalg.norm((w - q) @ s)
    assert out["residual_act_vs_qlora"][-1] == pytest.approx(got / plain, rel=1e-5)


def test_calib_errors(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((16, 32), np.float32))
    calib_file(tmp_path / "c.h5", np.eye(16))
    p = loftlab("init-matrix", "--npy", "w.npy", "--method", "qera", "--calib", "c.h5",
                "--calib-layer", "w", "--rank", "2", cwd=tmp_path, ok=False)
    assert "16x16" in p.stderr and "32 input features" in p.stderr
    p = loftlab("init-matrix", "--npy", "w.npy", "--method", "qera", "--calib", "c.h5",
                "--calib-layer", "nope", cwd=tmp_path, ok=False)
    assert "'nope'" in p.stderr
    p = loftlab("init-matrix", "--npy", "w.npy", "--method", "qera", "--rank", "2",
                cwd=tmp_path, ok=False)
    assert "calibration statistics" in p.stderr


def need_data():
    if not (DATA / "stories260K.bin").exists():
        pytest.skip(f"no stories260K in {DATA} (the shared data folder)")


def test_calibrate_keeps_and_refuses(tmp_path):
    need_data()
    args = [f"llama2c:{DATA / 'stories260K.bin'}", "--tokenizer", f"llama2c:{DATA / 'tok512.bin'}",
            "--corpus", "fortunes", "--tokens", "512", "--seq-len", "64", "--out", "c.h5"]
    assert "usage: loftlab calibrate" in loftlab("calibrate", "--help", cwd=tmp_path, ok=True).stdout
    assert "wrote" in loftlab("calibrate", *args, cwd=tmp_path, ok=True).stdout
    import h5py
    with h5py.File(tmp_path / "c.h5") as f:
        assert f.attrs["tokens_used"] == 512
        names = sorted(f["h"])
        assert len(names) == 4 * 5  # q, o, gate, down inputs of 5 layers
        h = f["h"]["model.layers.0.self_attn.q_proj.weight"][()]
    assert np.allclose(h, h.T)
    assert np.linalg.eigvalsh(h).min() > -1e-6 * np.trace(h)
    mtime = (tmp_path / "c.h5").stat().st_mtime_ns
    assert "kept existing" in loftlab("calibrate", *args, cwd=tmp_path, ok=True).stdout
    assert (tmp_path / "c.h5").stat().st_mtime_ns == mtime
    other = [a if a != "fortunes" else "jargon" for a in args]
    p = loftlab("calibrate", *other, cwd=tmp_path, ok=False)
    assert "corpus 'fortunes', not 'jargon'" in p.stderr


def llama2c_arrays(path):
    """The float32 arrays of a llama2.c version-0 checkpoint by name (../shared/data/README.md)."""
    raw = np.fromfile(path, dtype=np.uint8)
    dim, hidden, layers, heads, kv_heads, vocab, _ = raw[:28].view("<i4")
    kv = kv_heads * (dim // heads)
    f = raw[28:].view("<f4")
    shapes = [("embed", (abs(vocab), dim)), ("rms_att", (layers, dim)), ("wq", (layers, dim, dim)),
              ("wk", (layers, kv, dim)), ("wv", (layers, kv, dim)), ("wo", (layers, dim, dim)),
              ("rms_ffn", (layers, dim)), ("w1", (layers, hidden, dim)),
              ("w2", (layers, dim, hidden)), ("w3", (layers, hidden, dim))]
    out, at = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        out[name] = f[at:at + n].reshape(shape).astype(np.float64)
        at += n
    return out, int(layers)


def test_calibrate_h_is_xtx_of_the_layer_inputs(tmp_path):
    """H from `loftlab calibrate` equals X^T X in numpy of the layer inputs it dumps, for every
    input group of every layer; and those inputs are the model's: layer 0's attention input is
    the RMSNorm of the windows' embeddings, every layer's down_proj input is
    silu(x W1^T) * (x W3^T) of its gate input, both recomputed here from the checkpoint."""
    need_data()
    ckpt = DATA / "stories260K.bin"
    args = [f"llama2c:{ckpt}", "--tokenizer", f"llama2c:{DATA / 'tok512.bin'}", "--corpus", "kjv",
            "--tokens", "150", "--seq-len", "32", "--batch", "2", "--out", "c.h5",
            "--dump-inputs", "d"]
    assert "wrote" in loftlab("calibrate", *args, cwd=tmp_path, ok=True).stdout
    import h5py
    d = tmp_path / "d"
    windows = np.load(d / "tokens.npy")
    assert windows.dtype == np.int32 and windows.shape == (5, 32)  # 150 tokens -> 5 windows
    with h5py.File(tmp_path / "c.h5") as f:
        groups = sorted(f["h"])
        assert len(groups) == 20
        for g in groups:
            x = np.load(d / f"{g}.npy").astype(np.float64)
            assert x.shape[0] == 160
            want = x.T @ x
            err = np.abs(f["h"][g][()] - want).max() / np.abs(want).max()
            assert err < 1e-12, (g, err)
    w, layers = llama2c_arrays(ckpt)
    e = w["embed"][windows.reshape(-1)]
    xn = e / np.sqrt((e * e).mean(axis=1, keepdims=True) + 1e-5) * w["rms_att"][0]
    x0 = np.load(d / "model.layers.0.self_attn.q_proj.weight.npy")
    assert np.abs(x0 - xn).max() < 1e-5 * np.abs(xn).max()
    for layer in range(layers):
        x = np.load(d / f"model.layers.{layer}.mlp.gate_proj.weight.npy").astype(np.float64)
        g, u = x @ w["w1"][layer].T, x @ w["w3"][layer].T
        h = g / (1 + np.exp(-g)) * u
        got = np.load(d / f"model.layers.{layer}.mlp.down_proj.weight.npy")
        assert np.abs(got - h).max() < 1e-4 * np.abs(h).max(), layer
    # The dump is only of statistics computed afresh, into a new folder.
    p = loftlab("calibrate", *args, cwd=tmp_path, ok=False)
    assert "--out c.h5 exists" in p.stderr
    args[args.index("c.h5")] = "c2.h5"
    p = loftlab("calibrate", *args, cwd=tmp_path, ok=False)
    assert "is not an empty folder" in p.stderr


def test_sweep_computes_the_cache_once(tmp_path):
    need_data()
    cfg = write(tmp_path / "s.ini", f"""name = s
experiment = residual
source = llama2c:{DATA / 'stories260K.bin'}
calib_tokenizer = llama2c:{DATA / 'tok512.bin'}
calib_corpus = fortunes
calib_tokens = 256
calib_seq_len = 32
layers = *.q_proj.*
[grid]
method = qera, loftq
quant = nf2
rank = 4
""")
    p = loftlab("sweep", cfg, "--out", "r", cwd=tmp_path, ok=True, timeout=300)
    assert p.stderr.count("calibration: computed") == 1
    cfg.write_text(cfg.read_text().replace("rank = 4", "rank = 4, 8"))
    p = loftlab("sweep", cfg, "--out", "r", cwd=tmp_path, ok=True, timeout=300)
    assert "calibration: computed" not in p.stderr
    assert "calibration: reused" in p.stderr
    # qera takes no weight: weight = fisher neither adds a point nor asks for the Fisher.
    p = loftlab("sweep", cfg, "--out", "r", "--dry-run", "--set", "grid.method=qera",
                "--set", "grid.weight=none,act,fisher", cwd=tmp_path, ok=True)
    assert "6 grid combinations -> 2 points" in p.stdout  # rank 4 and 8, each once
    # Quantized-input statistics belong to experiments that initialise a whole model.
    p = loftlab("sweep", cfg, "--out", "r", "--dry-run", "--set", "calib_inputs=quantized",
                cwd=tmp_path, ok=False)
    assert "calib_inputs = quantized" in p.stderr and "finetune and classify" in p.stderr
    # A data-aware method without a calibration corpus is a clear error.
    cfg.write_text(cfg.read_text().replace("calib_corpus = fortunes\n", ""))
    p = loftlab("sweep", cfg, "--out", "r2", "--dry-run", cwd=tmp_path, ok=False)
    assert "calib_corpus" in p.stderr


def test_a_budget_for_a_data_aware_method_weighs_its_costs(tmp_path):
    """quant = budget:B with qera: the allocation's objective is the sum of the chosen tensors'
    squared activation-weighted residuals, which the point then reproduces tensor by tensor."""
    need_data()
    import h5py
    cfg = write(tmp_path / "b.ini", f"""name = b
experiment = residual
source = llama2c:{DATA / 'stories260K.bin'}
calib_tokenizer = llama2c:{DATA / 'tok512.bin'}
calib_corpus = fortunes
calib_tokens = 256
calib_seq_len = 32
layers = *.q_proj.*, *.down_proj.*
[grid]
method = qera
quant = budget:3.0:candidates=nf2+nf3:blocks=64
rank = 4
""")
    loftlab("sweep", cfg, "--out", "r", cwd=tmp_path, ok=True, timeout=300)
    with h5py.File(tmp_path / "r" / "results.h5") as f:
        (g,) = f["points"].values()
        act = [g["layers"][n]["residual_act"][-1] for n in g["layers"]]
        fro = [g["layers"][n]["residual_fro"][-1] for n in g["layers"]]
        objective = g["metrics/alloc_objective"][()]
        assert len(act) == 10 and g["metrics/alloc_bits_per_weight"][()] <= 3.0
    assert objective == pytest.approx(sum(a * a for a in act), rel=1e-9)
    assert objective != pytest.approx(sum(r * r for r in fro), rel=1e-3)
