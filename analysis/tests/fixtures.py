"""Small results files in the layout of results/README.md, written with plain h5py, so the
analysis tests do not depend on the C++ sweep. Values follow simple closed forms chosen so that
the orderings the papers report hold (LoftQ below QLoRA, more steps lower, more bits lower); the
tests compute every expected number from these records, never from constants.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np

PROJS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def tensor_names(n_layers: int = 2) -> list[str]:
    names = []
    for i in range(n_layers):
        for p in PROJS:
            block = "self_attn" if p in PROJS[:4] else "mlp"
            names.append(f"model.layers.{i}.{block}.{p}.weight")
    return names


def point_id(params: dict) -> str:
    text = json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _bits(quant: str) -> int:
    return int("".join(ch for ch in quant.split(":")[0] if ch.isdigit()))


def residual_record(method: str, quant: str, rank: int | None = None, steps: int | None = None,
                    seed: int = 0, n_layers: int = 2) -> dict:
    """One residual point. QLoRA drops rank and steps (they do not apply to it)."""
    params = {"experiment": "residual", "method": method, "quant": quant, "bits": _bits(quant),
              "seed": seed}
    if method != "qlora":
        params["rank"] = rank
        params["steps"] = steps
    T = 0 if method == "qlora" else steps
    layers = {}
    for k, name in enumerate(tensor_names(n_layers)):
        wnorm = 1.0 + 0.1 * k
        q_err = wnorm * 2.0 ** (-_bits(quant)) * (1.0 + 0.05 * (k % 7))
        gain = 0.0 if method == "qlora" else rank / 64.0 * (1.2 if method == "qpissa" else 1.0)
        fro = np.array([q_err * (1.0 - gain * (1.0 - 0.5 ** t)) for t in range(T + 1)])
        layers[name] = {
            "residual_fro": fro,
            "residual_rel": fro / wnorm,
            "residual_vs_qlora": fro / q_err,
            "residual_nuclear": fro * 6.0,
            "seconds": np.linspace(0.001, 0.002 * (T + 1), T + 1),
        }
    rel = float(np.mean([v["residual_rel"][-1] for v in layers.values()]))
    red_fro = float(np.mean([1 - v["residual_vs_qlora"][-1] for v in layers.values()]))
    metrics = {"mean_residual_rel": rel, "err_reduction_fro": red_fro,
               "err_reduction_nuclear": red_fro, "bits_per_weight": _bits(quant) + 0.5}
    return {"params": params, "metrics": metrics, "layers": layers, "train": {}}


def residual_records(seeds=(0,)) -> list[dict]:
    recs = []
    for seed in seeds:
        for quant in ("nf2", "nf4"):
            recs.append(residual_record("qlora", quant, seed=seed))
            for method in ("loftq", "qpissa"):
                for rank in (4, 8):
                    for steps in (1, 2, 5):
                        recs.append(residual_record(method, quant, rank, steps, seed))
    return recs


def finetune_record(method: str, quant: str | None, steps: int | None = None, rank: int = 8,
                    seed: int = 0, diverged: bool = False) -> dict:
    params = {"experiment": "finetune", "method": method, "seed": seed, "corpus": "jargon"}
    if quant is not None:
        params["quant"] = quant
        params["bits"] = _bits(quant)
    if method != "full":
        params["rank"] = rank
    if steps is not None:
        params["steps"] = steps
    bits = _bits(quant) if quant else 32
    ppl_init = 30.0 + 200.0 / bits ** 2 * (0.3 if method == "loftq" else 1.0)
    ppl_final = 12.0 + 40.0 / bits ** 2 * (0.5 if method == "loftq" else 1.0) + 0.1 * seed
    n = 20
    loss = np.log(ppl_init) - (np.log(ppl_init) - np.log(ppl_final)) * (1 - np.exp(-np.arange(n) / 5))
    if diverged:
        loss[8:] = np.nan
        ppl_final = float("nan")
    metrics = {"ppl_fp": 15.0, "ppl_init": ppl_init, "ppl_final": ppl_final,
               "diverged": 1.0 if diverged else 0.0, "tokens_per_s": 1000.0,
               "bits_per_weight": bits + (0.5 if quant else 0.0)}
    train = {"loss": loss, "lr": np.full(n, 1e-3), "eval_step": np.array([0.0, 10.0, 19.0]),
             "eval_loss": loss[[0, 10, 19]]}
    return {"params": params, "metrics": metrics, "layers": {}, "train": train}


def finetune_records() -> list[dict]:
    recs = [finetune_record("full", None), finetune_record("lora", None)]
    for quant in ("nf2", "nf4"):
        recs.append(finetune_record("qlora", quant, diverged=(quant == "nf2")))
        for steps in (1, 5):
            recs.append(finetune_record("loftq", quant, steps=steps))
    return recs


def _write_point(group: h5py.Group, rec: dict, pid: str) -> None:
    for k, v in rec["params"].items():
        if isinstance(v, str):
            group.attrs[k] = v
        elif isinstance(v, (int, np.integer)):
            group.attrs[k] = np.int64(v)
        else:
            group.attrs[k] = np.float64(v)
    group.attrs["status"] = rec.get("status", "complete")
    group.attrs["seconds"] = np.float64(0.5)
    group.attrs["host"] = "fixture"
    group.attrs["id"] = pid
    m = group.create_group("metrics")
    for k, v in rec["metrics"].items():
        m.create_dataset(k, data=np.float64(v))
    if rec["layers"]:
        lg = group.create_group("layers")
        for tname, traces in rec["layers"].items():
            tg = lg.create_group(tname)
            for k, v in traces.items():
                tg.create_dataset(k, data=np.asarray(v, dtype=np.float64))
    if rec["train"]:
        tr = group.create_group("train")
        for k, v in rec["train"].items():
            tr.create_dataset(k, data=np.asarray(v, dtype=np.float64))


def _root_attrs(f: h5py.File, name: str) -> None:
    f.attrs["loftlab_version"] = "0.1.0"
    f.attrs["git_commit"] = "fixture"
    f.attrs["created"] = "2026-01-01T00:00:00Z"
    f.attrs["config"] = f"name = {name}\n"
    f.attrs["name"] = name


def write_summary(f: h5py.File, recs: list[dict]) -> None:
    params = list(dict.fromkeys(k for r in recs for k in r["params"]))
    metrics = list(dict.fromkeys(k for r in recs for k in r["metrics"]))
    dt = [("id", h5py.string_dtype())]
    for k in params:
        vals = [r["params"].get(k) for r in recs]
        is_text = any(isinstance(v, str) for v in vals)
        dt.append((k, h5py.string_dtype() if is_text else np.float64))
    dt += [(f"{k}_metric" if k in params else k, np.float64) for k in metrics]
    rows = []
    for r in recs:
        row = [point_id(r["params"])]
        for k, t in dt[1:len(params) + 1]:
            v = r["params"].get(k)
            row.append(("" if v is None else v) if t != np.float64 else
                       (np.nan if v is None else float(v)))
        row += [float(r["metrics"].get(k, np.nan)) for k in metrics]
        rows.append(tuple(row))
    f.create_dataset("summary", data=np.array(rows, dtype=dt))


def write_results_h5(path: Path, recs: list[dict], name: str = "fixture") -> Path:
    with h5py.File(path, "w") as f:
        _root_attrs(f, name)
        pts = f.create_group("points")
        for r in recs:
            pid = point_id(r["params"])
            _write_point(pts.create_group(pid), r, pid)
        write_summary(f, recs)
    return path


def write_results_dir(folder: Path, recs: list[dict], name: str = "fixture",
                      merged: bool = True) -> Path:
    """results/<name>/ as the sweep writes it: points/<id>.h5, config.ini, results.h5."""
    (folder / "points").mkdir(parents=True, exist_ok=True)
    (folder / "config.ini").write_text(f"name = {name}\n")
    for r in recs:
        pid = point_id(r["params"])
        with h5py.File(folder / "points" / f"{pid}.h5", "w") as f:
            _root_attrs(f, name)
            _write_point(f.create_group("points").create_group(pid), r, pid)
    if merged:
        write_results_h5(folder / "results.h5", recs, name)
    return folder
