"""The classification table (LoftQ Table 1/2 shape): rows quantizer x method, columns tasks,
mean +- std of test accuracy over seeds, N.A. where any seed diverged, and the baseline rows."""
import numpy as np
import pytest

import fixtures as F
from analysis import plots, tables
from analysis.load import load


def record(method, quant, task, seed, acc, diverged=False):
    params = {"experiment": "classify", "method": method, "seed": seed, "task": task}
    if quant:
        params["quant"] = quant
    metrics = {"acc": acc, "macro_f1": acc, "majority_acc": 0.5, "head_acc": 0.6 + 0.01 * seed,
               "diverged": 1.0 if diverged else 0.0}
    train = {"loss": np.linspace(1, 0.5, 10), "eval_step": np.array([0.0, 5.0, 10.0]),
             "eval_acc": np.array([0.5, 0.6, acc])}
    return {"params": params, "metrics": metrics, "layers": {}, "train": train}


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    recs = []
    for task in ("kjv:testament", "fortunes:a+b"):
        for seed, acc in enumerate((0.80, 0.84, 0.88)):
            recs.append(record("lora", None, task, seed, acc))
            recs.append(record("loftq", "nf2", task, seed, acc - 0.1))
            recs.append(record("qlora", "nf2", task, seed, 0.5, diverged=(seed == 1)))
    return load(F.write_results_h5(tmp_path_factory.mktemp("c") / "results.h5", recs))


def test_cells_are_mean_and_std_over_seeds_with_na_for_divergence(res):
    t = tables.classify_table(res.points, params=res.params)
    assert t.index_names == ["quantizer", "method"]
    assert t.columns == ["fortunes:a+b", "kjv:testament"]
    sd = np.std([80, 84, 88], ddof=1)
    assert t.cell(("fp32 (none)", "lora"), "kjv:testament") == f"84.0 ± {sd:.1f}"
    assert t.value(("nf2", "loftq"), "fortunes:a+b") == pytest.approx(74.0)
    assert t.cell(("nf2", "qlora"), "kjv:testament") == tables.NA
    assert t.cell(("-", "majority class"), "kjv:testament") == "50.0 ± 0.0"  # the same for every seed
    assert t.value(("-", "frozen model + head"), "kjv:testament") == pytest.approx(61.0)
    assert "3 seeds" in t.note
    assert "±" in t.markdown() and "N.A." in t.latex()


def test_accuracy_curves_plot(res, tmp_path):
    assert plots.accuracy_curves(res.curves, tmp_path / "a.png").exists()
    assert tables.classify_table(res.points.drop(columns=["task"])) is None
