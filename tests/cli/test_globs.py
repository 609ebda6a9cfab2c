"""The glob dialect of common/glob.hpp through the command line: `--layers` takes the integer
ranges that quantizer rules take, and a range that matches nothing is named in the error."""
import numpy as np

from cli_support import loftlab, require_binary  # noqa: F401


def test_tensors_layers_take_integer_ranges(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for i in range(4):
        np.save(folder / f"model.layers.{i}.mlp.up_proj.weight.npy", np.ones((4, 8), np.float32))
    p = loftlab("tensors", "npy:m", "--layers", "model.layers.{1..2}.*", cwd=tmp_path, ok=True)
    listed = [line.split()[0] for line in p.stdout.splitlines() if line.startswith("model.")]
    assert listed == ["model.layers.1.mlp.up_proj.weight", "model.layers.2.mlp.up_proj.weight"]
    p = loftlab("tensors", "npy:m", "--layers", "model.layers.{7..9}.*", cwd=tmp_path, ok=False)
    assert "'model.layers.{7..9}.*' matches no tensor" in p.stderr
