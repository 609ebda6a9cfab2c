"""Hostile or degenerate input through the CLI: every case ends in a result or in a clear error
(exit 1, the offending value named), never in a crash, a hang or a silently partial result."""
import json

import h5py

import numpy as np
import pytest

from cli_support import loftlab, need_binary, write, write_safetensors

pytestmark = pytest.mark.usefixtures("binary")


@pytest.fixture
def binary():
    need_binary()


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
