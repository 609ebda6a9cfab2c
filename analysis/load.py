"""Read loftlab results into pandas DataFrames.

A RESULTS path may be a merged `results.h5`, a single point file `<id>.h5`, a folder of point
files (`results/<name>/points/`), or a results folder (`results/<name>/`). In a results folder
the point files are read when present, since they are the ground truth while a sweep is still
running and results.h5 is only rebuilt by `loftlab merge`; results.h5 otherwise.

The layout read here is the one results/README.md documents:

    /points/<id>/                   attrs: parameters, status, seconds, host, id
    /points/<id>/metrics/<name>     float64 scalars
    /points/<id>/layers/<tensor>/<name>   float64[T+1] traces
    /points/<id>/train/<name>       float64[...] curves

Three views come out of one pass over the files (`load`):
  points   one row per point: parameters and metrics as columns
  tensors  one row per point x tensor: parameters, `tensor`, `proj` (q_proj ... down_proj or
           None), `layer` (int or -1), for every trace its final value under the trace's name and
           the whole array under `<name>_trace`
  curves   one row per point that has training curves: parameters and one array column per
           curve, named `train_<name>`
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import h5py
except ImportError as e:  # `python3` on PATH lacks h5py on this machine; say what to run
    raise SystemExit(f"analysis needs h5py and pandas: run with /usr/bin/python3 ({e})")

# Attributes of /points/<id>/ that describe the run rather than the point's parameters.
RUN_ATTRS = ("id", "status", "seconds", "host", "error")

# Projection types of a Llama layer, in the order the papers' tables print them.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

_PROJ_RE = re.compile(r"(?:^|[._/])(" + "|".join(PROJECTIONS) + r")(?:$|[._/])")
_LAYER_RE = re.compile(r"(?:^|[._/])layers?[._/](\d+)(?:$|[._/])")
_POINT_FILE_RE = re.compile(r"^[^.].*\.h5$")


class ResultsError(Exception):
    """A results path that is missing, unreadable or not in the documented layout."""


@dataclass
class Results:
    points: pd.DataFrame
    tensors: pd.DataFrame
    curves: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # parameter columns, in first-seen order
    root_attrs: dict = field(default_factory=dict)  # attrs of the first file's root group


def parse_tensor_name(name: str) -> tuple[str | None, int]:
    """('q_proj', 3) for 'model.layers.3.self_attn.q_proj.weight'; (None, -1) when absent."""
    proj = _PROJ_RE.search(name)
    layer = _LAYER_RE.search(name)
    return (proj.group(1) if proj else None, int(layer.group(1)) if layer else -1)


def result_files(path: str | Path) -> list[Path]:
    """The HDF5 files a RESULTS path stands for (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise ResultsError(
            f"{p}: no such file or folder (expected results.h5, a point file <id>.h5, a "
            "points/ folder, or a results/<name>/ folder)")
    if p.is_file():
        return [p]
    points_dir = p / "points"
    for folder in (points_dir, p):
        files = _point_files(folder)
        if files:
            return files
    if (p / "results.h5").is_file():
        return [p / "results.h5"]
    raise ResultsError(f"{p}: folder holds no point files (*.h5) and no results.h5")


def _point_files(folder: Path) -> list[Path]:
    # Hidden and temporary names are points still being written (temp name + rename).
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir()
                  if f.is_file() and _POINT_FILE_RE.match(f.name) and ".tmp" not in f.name
                  and f.name != "results.h5")


def _py(v):
    """An HDF5 attribute or scalar as a plain Python value (bytes -> str, numpy -> builtin)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        if v.shape == ():
            return _py(v[()])
        if v.size == 1:
            return _py(v.reshape(-1)[0])
        return v
    if isinstance(v, np.generic):
        return v.item()
    return v


def _read_point(pid: str, g: h5py.Group, source: Path, params_seen: dict):
    params = {}
    for k, v in g.attrs.items():
        params[k] = _py(v)
        if k not in RUN_ATTRS:
            params_seen.setdefault(k, None)
    params.setdefault("id", pid)
    params.setdefault("status", "complete")
    row = dict(params)
    if "metrics" in g:
        for k, ds in g["metrics"].items():
            if not isinstance(ds, h5py.Dataset):
                continue
            # A metric that shares a parameter's name must not silently replace it.
            row[f"{k}_metric" if k in params else k] = float(np.asarray(ds[()]).reshape(-1)[0])
    tensor_rows = []
    if "layers" in g:
        for tname, tg in g["layers"].items():
            if not isinstance(tg, h5py.Group):
                continue
            proj, layer = parse_tensor_name(tname)
            trow = dict(params, tensor=tname, proj=proj, layer=layer)
            for dname, ds in tg.items():
                if not isinstance(ds, h5py.Dataset):
                    continue
                arr = np.asarray(ds[()], dtype=np.float64).reshape(-1)
                trow[dname] = arr[-1] if arr.size else np.nan
                trow[f"{dname}_trace"] = arr
            tensor_rows.append(trow)
    curve_row = None
    if "train" in g:
        curve_row = dict(params)
        for cname, ds in g["train"].items():
            if isinstance(ds, h5py.Dataset):
                curve_row[f"train_{cname}"] = np.asarray(ds[()], dtype=np.float64).reshape(-1)
    row["file"] = str(source)
    return row, tensor_rows, curve_row


def load(path: str | Path) -> Results:
    """Read every point under a RESULTS path. Raises ResultsError naming the file at fault."""
    files = result_files(path)
    rows, tensor_rows, curve_rows = [], [], []
    params_seen: dict = {}
    root_attrs: dict = {}
    seen_ids: set = set()
    for f in files:
        try:
            h = h5py.File(f, "r")
        except OSError as e:
            raise ResultsError(f"{f}: not a readable HDF5 file ({e})") from None
        with h:
            if not root_attrs:
                root_attrs = {k: _py(v) for k, v in h.attrs.items()}
            if "points" not in h or not isinstance(h["points"], h5py.Group):
                raise ResultsError(
                    f"{f}: no /points group; expected the layout of results/README.md "
                    "(/points/<id>/ with parameters as attributes)")
            for pid, g in h["points"].items():
                if not isinstance(g, h5py.Group):
                    raise ResultsError(f"{f}: /points/{pid} is not a group")
                if pid in seen_ids:  # the same point in two files (e.g. a copied point file)
                    continue
                seen_ids.add(pid)
                row, trows, crow = _read_point(pid, g, f, params_seen)
                rows.append(row)
                tensor_rows.extend(trows)
                if crow is not None:
                    curve_rows.append(crow)
    points = pd.DataFrame(rows)
    tensors = pd.DataFrame(tensor_rows)
    curves = pd.DataFrame(curve_rows)
    return Results(points=points, tensors=tensors, curves=curves, files=files,
                   params=list(params_seen), root_attrs=root_attrs)


def load_points(path) -> pd.DataFrame:
    """One row per point: parameters and metrics as columns."""
    return load(path).points


def load_tensors(path) -> pd.DataFrame:
    """One row per point x tensor, with `proj`, `layer`, final values and `<name>_trace` arrays."""
    return load(path).tensors


def load_summary(path: str | Path) -> pd.DataFrame:
    """The /summary table of a merged results.h5, as written by `loftlab merge`."""
    p = Path(path)
    with h5py.File(p, "r") as h:
        if "summary" not in h:
            raise ResultsError(f"{p}: no /summary table (only results.h5 has one)")
        df = pd.DataFrame(h["summary"][:])
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(_py)
    return df
