"""Each plot writes a real PNG when its data are present and nothing when they are absent."""
import matplotlib.image as mpimg
import numpy as np
import pytest

import fixtures as F
from analysis import plots
from analysis.load import load


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    return load(F.write_results_h5(tmp_path_factory.mktemp("r") / "r.h5", F.residual_records()))


@pytest.fixture(scope="module")
def finetune(tmp_path_factory):
    return load(F.write_results_h5(tmp_path_factory.mktemp("f") / "f.h5", F.finetune_records()))


def _assert_drawn(path):
    img = mpimg.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 300
    # Not a blank canvas: a drawn figure has many distinct colours.
    assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 50


def test_residual_vs_T_and_error_reduction_vs_rank(residual, tmp_path):
    _assert_drawn(plots.residual_vs_T(residual.points, tmp_path / "a.png"))
    _assert_drawn(plots.error_reduction_vs_rank(residual.points, tmp_path / "b.png"))
    _assert_drawn(plots.discrepancy_by_layer(residual.tensors, tmp_path / "e.png"))


def test_ppl_vs_bits_and_training_curves(finetune, tmp_path):
    _assert_drawn(plots.ppl_vs_bits(finetune.points, tmp_path / "c.png"))
    _assert_drawn(plots.training_curves(finetune.curves, tmp_path / "d.png"))


def test_plots_return_none_without_their_data(residual, finetune, tmp_path):
    assert plots.residual_vs_T(finetune.points, tmp_path / "x.png") is None
    assert plots.error_reduction_vs_rank(finetune.points, tmp_path / "x.png") is None
    assert plots.ppl_vs_bits(residual.points, tmp_path / "x.png") is None
    assert plots.training_curves(residual.curves, tmp_path / "x.png") is None
    assert plots.discrepancy_by_layer(finetune.tensors, tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists()


def test_methods_keep_one_colour_across_figures():
    assert plots.colour("loftq") != plots.colour("qlora")
    assert plots.colour("some_new_method") == plots.colour("some_new_method")
