"""The loader reads every form of a results path into the same DataFrames."""
import h5py
import numpy as np
import pandas as pd
import pytest

import fixtures as F
from analysis.load import (PROJECTIONS, ResultsError, load, load_summary, parse_tensor_name,
                           result_files)


@pytest.fixture
def residual_dir(tmp_path):
    recs = F.residual_records()
    return F.write_results_dir(tmp_path / "res", recs), recs


def test_every_path_form_gives_the_same_points(residual_dir):
    folder, recs = residual_dir
    forms = [folder, folder / "points", folder / "results.h5"]
    frames = [load(p).points.drop(columns="file").sort_values("id").reset_index(drop=True)
              for p in forms]
    assert len(frames[0]) == len(recs)
    for f in frames[1:]:
        pd.testing.assert_frame_equal(frames[0][sorted(frames[0].columns)],
                                      f[sorted(f.columns)])


def test_a_results_folder_prefers_point_files_over_a_stale_merge(tmp_path):
    recs = F.residual_records()
    folder = F.write_results_dir(tmp_path / "r", recs[:3])  # results.h5 with 3 points
    F.write_results_dir(folder, recs, merged=False)  # more points finished since the merge
    assert len(load(folder).points) == len(recs)
    assert len(load(folder / "results.h5").points) == 3


def test_a_single_point_file_is_one_row(residual_dir):
    folder, recs = residual_dir
    pid = F.point_id(recs[5]["params"])
    res = load(folder / "points" / f"{pid}.h5")
    assert list(res.points["id"]) == [pid]
    assert len(res.tensors) == len(recs[5]["layers"])


def test_parameters_and_metrics_are_columns_with_their_values(residual_dir):
    folder, recs = residual_dir
    pts = load(folder).points.set_index("id")
    for r in recs:
        row = pts.loc[F.point_id(r["params"])]
        for k, v in r["params"].items():
            assert row[k] == v, k
        for k, v in r["metrics"].items():
            assert row[k] == pytest.approx(v), k
        assert row["status"] == "complete"
    # QLoRA has no rank: the column is NaN there, not a made-up value.
    assert pts[pts["method"] == "qlora"]["rank"].isna().all()


def test_tensor_rows_carry_final_values_traces_proj_and_layer(residual_dir):
    folder, recs = residual_dir
    res = load(folder)
    t = res.tensors
    assert len(t) == sum(len(r["layers"]) for r in recs)
    by_id = {F.point_id(r["params"]): r for r in recs}
    for row in t.sample(20, random_state=0).to_dict("records"):
        trace = by_id[row["id"]]["layers"][row["tensor"]]["residual_fro"]
        np.testing.assert_array_equal(row["residual_fro_trace"], trace)
        assert row["residual_fro"] == trace[-1]
        proj, layer = parse_tensor_name(row["tensor"])
        assert (row["proj"], row["layer"]) == (proj, layer)
    assert set(t["proj"]) == set(PROJECTIONS)
    assert set(t["layer"]) == {0, 1}


def test_tensor_names_parse_to_projection_and_layer():
    assert parse_tensor_name("model.layers.3.self_attn.q_proj.weight") == ("q_proj", 3)
    assert parse_tensor_name("model.layers.12.mlp.down_proj.weight") == ("down_proj", 12)
    assert parse_tensor_name("model.embed_tokens.weight") == (None, -1)
    assert parse_tensor_name("synthetic.7") == (None, -1)
    # 'up_proj' inside another word is not a projection type.
    assert parse_tensor_name("model.layers.0.mlp.setup_projx.weight")[0] is None


def test_training_curves_are_array_columns(tmp_path):
    recs = F.finetune_records()
    res = load(F.write_results_dir(tmp_path / "ft", recs))
    assert len(res.curves) == len(recs)
    row = res.curves.iloc[0]
    assert isinstance(row["train_loss"], np.ndarray) and row["train_loss"].size == 20
    assert "diverged" in res.points and res.points["diverged"].sum() == 1


def test_failed_points_are_kept_with_their_status_and_error(tmp_path):
    rec = F.residual_record("loftq", "nf2", 4, 1)
    rec["status"] = "failed"
    folder = F.write_results_dir(tmp_path / "f", [rec], merged=False)
    path = next((folder / "points").iterdir())
    with h5py.File(path, "a") as f:
        next(iter(f["points"].values())).attrs["error"] = "tensor x: NaN"
    pts = load(folder).points
    assert list(pts["status"]) == ["failed"]
    assert list(pts["error"]) == ["tensor x: NaN"]


def test_temporary_and_hidden_files_are_not_points(residual_dir):
    folder, recs = residual_dir
    (folder / "points" / ".abc.h5").write_bytes(b"partial")
    (folder / "points" / "abc.h5.tmp").write_bytes(b"partial")
    (folder / "points" / "abc.tmp.h5").write_bytes(b"partial")
    assert len(result_files(folder)) == len(recs)
    assert len(load(folder).points) == len(recs)


def test_a_metric_named_like_a_parameter_does_not_replace_it(tmp_path):
    rec = F.residual_record("loftq", "nf2", 4, 1)
    rec["metrics"]["rank"] = 123.0
    pts = load(F.write_results_h5(tmp_path / "r.h5", [rec])).points
    assert pts["rank"].iloc[0] == 4 and pts["rank_metric"].iloc[0] == 123.0


def test_missing_and_invalid_paths_are_errors_naming_the_path(tmp_path):
    with pytest.raises(ResultsError, match="nowhere.h5: no such file"):
        load(tmp_path / "nowhere.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ResultsError, match="bad.h5: not a readable HDF5 file"):
        load(bad)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(ResultsError, match="other.h5: no /points group"):
        load(other)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="empty: folder holds no point files"):
        load(tmp_path / "empty")


def test_the_summary_table_agrees_with_the_point_groups(residual_dir):
    folder, _ = residual_dir
    summary = load_summary(folder / "results.h5").set_index("id").sort_index()
    pts = load(folder).points.set_index("id").sort_index()
    assert list(summary.index) == list(pts.index)
    for c in ("mean_residual_rel", "err_reduction_nuclear", "bits_per_weight"):
        np.testing.assert_allclose(summary[c], pts[c])
    assert list(summary["method"]) == list(pts["method"])
