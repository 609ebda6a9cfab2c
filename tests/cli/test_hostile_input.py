"""Hostile or degenerate input through the CLI: every case ends in a result or in a clear error
(exit 1, the offending value named), never in a crash, a hang or a silently partial result."""
import json

import h5py

import numpy as np
import pytest

from cli_support import loftlab, require_binary, write, write_safetensors  # noqa: F401



def rank_deficient():
    """Zero, constant, integer rank 1 and rank 3 matrices (the exact SVD's hard cases)."""
    i = np.arange(64)[:, None]
    j = np.arange(128)[None, :]
    r1 = ((i % 5 + 1) * (j % 7 + 1)).astype(np.float32)
    r3 = sum(((i * (k + 1)) % 5 + 1) * ((j + 3 * k) % 7 + 1) for k in range(3)).astype(np.float32)
    return {"zero": np.zeros((64, 128), np.float32), "constant": np.ones((64, 128), np.float32),
            "rank1": r1, "rank3": r3}


@pytest.mark.parametrize("svd", ["exact", "exact-gesdd", "randomized"])
@pytest.mark.parametrize("method", ["qpissa", "loftq"])
def test_init_matrix_on_rank_deficient_matrices(tmp_path, method, svd):
    for name, w in rank_deficient().items():
        np.save(tmp_path / f"{name}.npy", w)
        p = loftlab("init-matrix", "--npy", f"{name}.npy", "--method", method, "--svd", svd,
                    "--rank", 8, "--steps", 3, cwd=tmp_path, ok=True)
        out = json.loads(p.stdout)
        assert out["rank"] == 8, name
        assert all(np.isfinite(out["residual_fro"])), (name, out["residual_fro"])


def test_sweep_over_a_folder_of_rank_deficient_matrices_completes(tmp_path):
    (tmp_path / "w").mkdir()
    for name, w in rank_deficient().items():
        np.save(tmp_path / "w" / f"{name}.npy", w)
    write(tmp_path / "deficient.ini", """name = deficient
experiment = residual
source = npy:w
[grid]
method = qlora, loftq, qpissa
rank = 1, 8
steps = 3
svd = exact, exact-gesdd
""")
    p = loftlab("sweep", "deficient.ini", cwd=tmp_path, ok=True, timeout=120)
    assert "(0 failed)" in p.stdout, p.stdout
    with h5py.File(tmp_path / "results/deficient/results.h5") as f:
        statuses = [f["points"][i].attrs["status"] for i in f["points"]]
        assert len(statuses) == 9 and set(statuses) == {"complete"}
        for i in f["points"]:
            assert sorted(f["points"][i]["layers"]) == ["constant", "rank1", "rank3", "zero"]


def sharded_with_subfolder(root):
    """A sharded HF folder whose index puts the first shard in sub/: 4 + 3 tensors."""
    import json
    rng = np.random.default_rng(0)
    a = {f"model.layers.{i}.mlp.up_proj.weight": rng.standard_normal((16, 32)) for i in range(4)}
    b = {f"model.layers.{i}.mlp.down_proj.weight": rng.standard_normal((32, 16)) for i in range(3)}
    write_safetensors(root / "sub" / "model-00001-of-00002.safetensors", a)
    write_safetensors(root / "model-00002-of-00002.safetensors", b)
    weight_map = {**{n: "sub/model-00001-of-00002.safetensors" for n in a},
                  **{n: "model-00002-of-00002.safetensors" for n in b}}
    (root / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return weight_map


def test_index_with_a_subfolder_loses_no_tensor(tmp_path):
    weight_map = sharded_with_subfolder(tmp_path / "m")
    p = loftlab("tensors", "hf:m", cwd=tmp_path, ok=True)
    listed = {line.split()[0] for line in p.stdout.splitlines()}
    assert listed == set(weight_map), p.stdout
    write(tmp_path / "s.ini", "name = s\nexperiment = residual\nsource = hf:m\n"
          "[grid]\nmethod = loftq\nrank = 4\n")
    loftlab("sweep", "s.ini", cwd=tmp_path, ok=True)
    with h5py.File(tmp_path / "results/s/results.h5") as f:
        (point,) = f["points"].values()
        assert set(point["layers"]) == set(weight_map)
        assert point["metrics"]["tensors"][()] == len(weight_map)


def test_index_paths_outside_the_model_folder_are_refused(tmp_path):
    import json
    sharded_with_subfolder(tmp_path / "m")
    write_safetensors(tmp_path / "x.safetensors", {"model.layers.9.mlp.up_proj.weight":
                                                   np.ones((4, 4))})
    index = tmp_path / "m" / "model.safetensors.index.json"
    for bad in ["../x.safetensors", str(tmp_path / "x.safetensors")]:
        index.write_text(json.dumps({"weight_map": {"model.layers.9.mlp.up_proj.weight": bad}}))
        p = loftlab("tensors", "hf:m", cwd=tmp_path, ok=False)
        assert bad in p.stderr


def test_sizes_from_files_and_the_command_line_are_checked_before_any_allocation(tmp_path):
    import json
    import time
    m = tmp_path / "m"
    write_safetensors(m / "model.safetensors", {"model.embed_tokens.weight": np.ones((258, 8))})
    (m / "config.json").write_text(json.dumps(dict(
        hidden_size=8, intermediate_size=16, num_attention_heads=2, vocab_size=258,
        num_hidden_layers=1000000)))
    t0 = time.time()
    p = loftlab("generate", "--model", "hf:m", "--tokenizer", "byte", "--steps", 1, cwd=tmp_path,
                ok=False)
    assert "num_hidden_layers" in p.stderr and "1000000" in p.stderr
    assert time.time() - t0 < 10
    # shapes whose element count wraps around 64 bits
    header = json.dumps({"w": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40],
                               "data_offsets": [0, 0]}}).encode()
    (tmp_path / "wrap.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    p = loftlab("tensors", "hf:wrap.safetensors", cwd=tmp_path, ok=False)
    assert "'w'" in p.stderr and "more elements" in p.stderr
    np.save(tmp_path / "w.npy", np.ones((4, 4), np.float32))
    for args in (["sweep", "x.ini", "--threads", 100000], ["sweep", "x.ini", "--jobs", 100000],
                 ["init-matrix", "--npy", "w.npy", "--threads", 100000],
                 ["init-matrix", "--npy", "w.npy", "--steps", 100000],
                 ["generate", "--model", "hf:m", "--steps", 2 ** 30]):
        p = loftlab(*args, cwd=tmp_path, ok=False)
        assert "100000" in p.stderr or str(2 ** 30) in p.stderr, (args, p.stderr)


def max_rss_mb(*args, cwd):
    """Peak resident memory of one loftlab run (measured in a fresh process of its own)."""
    import subprocess
    import sys
    from cli_support import BIN, ENV
    code = ("import resource, subprocess, sys; "
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, BIN, *map(str, args)], cwd=cwd, env=ENV,
                         capture_output=True, text=True, timeout=300).stdout.split()
    return int(out[0]), int(out[1]) / 1024


def grid_config(**axes):
    """A residual sweep config whose [grid] has the given axes (name -> number of values)."""
    values = {"quant": ["nf2", "nf3", "nf4", "nf8", "fp4", "int2", "int3", "int4", "int8",
                        "uniform4"]}
    lines = [f"{k} = " + ", ".join(values.get(k, [str(i) for i in range(1, n + 1)])[:n])
             for k, n in axes.items()]
    return ("name = big\nexperiment = residual\nsource = synthetic:gaussian:shape=8x8:count=1\n"
            "[grid]\nmethod = loftq\nsvd = randomized\n" + "\n".join(lines) + "\n")


def test_huge_grids_are_refused_and_large_ones_listed_in_little_memory(tmp_path):
    import time
    # 10 x 10 x 10 x 100 x 1000 = 10^8 combinations: refused from the axis sizes, at once
    write(tmp_path / "huge.ini", grid_config(quant=10, rank=10, steps=10, seed=100, alpha=1000))
    t0 = time.time()
    p = loftlab("sweep", "huge.ini", "--dry-run", cwd=tmp_path, ok=False)
    assert "more than 1000000 combinations" in p.stderr and "1000 alpha" in p.stderr, p.stderr
    assert time.time() - t0 < 10
    # 10^5 points: listed in full, streamed, in a few tens of MB (it took 374 MB held at once)
    write(tmp_path / "large.ini", grid_config(quant=10, rank=10, steps=10, seed=100))
    code, mb = max_rss_mb("sweep", "large.ini", "--dry-run", cwd=tmp_path)
    assert code == 0 and mb < 100, mb
    out = loftlab("sweep", "large.ini", "--dry-run", cwd=tmp_path, ok=True, timeout=120).stdout
    assert "100000 grid combinations -> 100000 points" in out
    lines = out.splitlines()
    header = next(i for i, l in enumerate(lines) if l.startswith("#"))
    assert len(lines) - header - 1 == 100000


def test_a_fifo_is_refused_wherever_a_file_is_expected(tmp_path):
    import os
    os.mkfifo(tmp_path / "fifo")
    np.save(tmp_path / "w.npy", np.ones((8, 8), np.float32))
    for args in (["sweep", "fifo"], ["sweep", "fifo", "--dry-run"],
                 ["init-matrix", "--npy", "fifo"], ["tensors", "llama2c:fifo"],
                 ["tensors", "npy:fifo"], ["generate", "--model", "llama2c:fifo"],
                 ["generate", "--model", "pretrained:x", "--tokenizer", "llama2c:fifo"],
                 ["inspect", "fifo"], ["merge", "fifo"]):
        p = loftlab(*args, cwd=tmp_path, ok=False, timeout=20)  # a blocking read times out
        assert "fifo" in p.stderr, (args, p.stderr)


def test_command_line_numbers_are_checked_as_written(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((8, 8), np.float32))
    for option, value in (("--seed", "-1"), ("--seed", "18446744073709551616"),
                          ("--alpha", "nan"), ("--alpha", "-2"), ("--alpha", "inf"),
                          ("--rank", "energy: 0.5"), ("--rank", "4294967297"),
                          ("--steps", "-3"), ("--threads", "-1")):
        p = loftlab("init-matrix", "--npy", "w.npy", option, value, cwd=tmp_path, ok=False)
        assert value in p.stderr, (option, value, p.stderr)
    p = loftlab("init-matrix", "--npy", "w.npy", "--seed", "18446744073709551615",
                "--method", "qlora", "--rank", 2, cwd=tmp_path, ok=True)
    assert json.loads(p.stdout)["seed"] == 18446744073709551615
    write(tmp_path / "s.ini", "name = s\nexperiment = residual\nsource = npy:w.npy\n")
    for setting in ("grid.steps=99999", "grid.seed=-1", "grid.rank=2147483648",
                    "grid.alpha=1e400", "source=synthetic:gaussian:shape=1e12x2"):
        p = loftlab("sweep", "s.ini", "--set", setting, "--dry-run", cwd=tmp_path, ok=False)
        assert setting.split("=", 1)[1] in p.stderr, (setting, p.stderr)
    for shard in ("1/0", "-1/2", "2/2", "0/99999999999"):
        p = loftlab("sweep", "s.ini", "--shard", shard, cwd=tmp_path, ok=False)
        assert shard in p.stderr
