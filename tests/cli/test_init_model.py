"""End to end: `loftlab init-model` exports a whole model for PEFT, checked by a reader written
here (numpy only, safetensors parsed by hand, nothing of loftlab's), on a synthetic multi-shard
Hugging Face folder of another architecture (a non-Llama tensor, a 1-D and a 3-D tensor, bf16)
generated below, and on stories260K from ../shared/data.

Checked: per module, Q + (lora_alpha / r) B A rebuilt from the exported files has the trace's
final residual ||W - Q - s B A||_F to 1e-5 relative; untouched tensors are bitwise the source's;
the index maps every tensor to its shard; adapter keys and config fields are PEFT's; each
rank_pattern key matches exactly one module under PEFT's rule; kill -9 then resume, --shard 0/2 +
1/2 + --assemble, and mpirun -n 2 give files bitwise equal to one uninterrupted run; a concurrent
run is refused; bad inputs fail with a clear message and leave no DIR.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from cli_support import BIN, ENV, loftlab

SOURCE = Path(os.environ.get("LOFTLAB_SOURCE_DIR") or Path(__file__).resolve().parents[2])
DATA = Path(os.environ.get("LOFTLAB_DATA") or SOURCE / ".." / "shared" / "data")


# ---- an independent safetensors reader ----
def read_safetensors(path):
    """name -> (dtype, shape, raw bytes), and the metadata."""
    blob = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = (e["dtype"], tuple(e["shape"]), blob[8 + n + b:8 + n + end])
    return out, meta


def as_f32(dtype, shape, raw):
    if dtype == "F32":
        a = np.frombuffer(raw, "<f4")
    elif dtype == "F16":
        a = np.frombuffer(raw, "<f2").astype(np.float32)
    elif dtype == "BF16":
        a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise ValueError(dtype)
    return a.reshape(shape).astype(np.float64)


def read_folder(d):
    """Every tensor of a Hugging Face folder, through its index, with the file it is in."""
    d = Path(d)
    if not (d / "model.safetensors.index.json").exists():  # one file, no index
        t, _ = read_safetensors(d / "model.safetensors")
        index = {"weight_map": {n: "model.safetensors" for n in t}}
        return index, {n: ("model.safetensors", *v) for n, v in t.items()}
    index = json.loads((d / "model.safetensors.index.json").read_text())
    tensors = {}
    for f in sorted(set(index["weight_map"].values())):
        t, _ = read_safetensors(d / f)
        for name, v in t.items():
            tensors[name] = (f, *v)
    return index, tensors


def bf16_bytes(a):
    u = np.ascontiguousarray(a, np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()


def write_st(path, tensors):
    """name -> (dtype, array) in order."""
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dt, a) in tensors.items():
        b = bf16_bytes(a) if dt == "BF16" else np.ascontiguousarray(a, "<f4").tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def make_folder(d, layers=3, seed=0, head=False):
    """A GPT-2-like model in 3 shards: bf16 linear weights, a 1-D bias, a 3-D conv, an embedding
    (and an untied lm_head when head)."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True)
    shards = [{} for _ in range(3)]
    shards[0]["transformer.wte.weight"] = ("F32", rng.standard_normal((96, 64)))
    shards[0]["transformer.conv.weight"] = ("F32", rng.standard_normal((4, 8, 8)))
    for i in range(layers):
        s = shards[1 + i % 2]
        s[f"transformer.h.{i}.attn.c_attn.weight"] = ("BF16", rng.standard_t(5, (192, 64)) * 0.05)
        s[f"transformer.h.{i}.attn.c_attn.bias"] = ("BF16", rng.standard_normal(192))
        s[f"transformer.h.{i}.mlp.c_fc.weight"] = ("BF16", rng.standard_normal((128, 64)) * 0.05)
        s[f"transformer.h.{i}.ln_1.weight"] = ("F32", np.ones(64))
    if head:
        shards[2]["lm_head.weight"] = ("BF16", rng.standard_normal((96, 64)) * 0.05)
    weight_map = {}
    for k, s in enumerate(shards):
        name = f"model-{k + 1:05d}-of-00003.safetensors"
        write_st(d / name, s)
        weight_map.update({t: name for t in s})
    (d / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    (d / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": layers}))
    (d / "tokenizer.json").write_text('{"version": "1.0"}')
    return d


def run(*args, cwd, ok=True, timeout=120):
    return loftlab("init-model", *args, cwd=cwd, ok=ok, timeout=timeout)


def digest(d):
    """sha256 of every backbone and adapter file (the loftlab/ traces hold times), the adapter
    config without base_model_name_or_path (the folder's own path)."""
    d = Path(d)
    out = {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
           for p in sorted(d.rglob("*")) if p.is_file() and "loftlab" not in p.parts}
    cfg = json.loads((d / "loftq_init" / "adapter_config.json").read_text())
    cfg.pop("base_model_name_or_path")
    out["loftq_init/adapter_config.json"] = json.dumps(cfg)
    return out


def final_residuals(d):
    import h5py
    with h5py.File(Path(d) / "loftlab" / "results.h5") as f:
        layers = f["points/init-model/layers"]
        return {k: float(layers[k]["residual_fro"][-1]) for k in layers}


def peft_pattern_key(keys, module):
    """PEFT's get_pattern_key: the first key k with re.match(rf"(.*\\.)?({k})$", module)."""
    return next((k for k in keys if re.match(rf"(.*\.)?({k})$", module)), module)


def check_export(src, out):
    """The independent checks of one export against its source folder."""
    index, tensors = read_folder(out)
    _, source = read_folder(src)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(tensors) == set(source)
    for name, (f, *_rest) in tensors.items():
        assert index["weight_map"][name] == f == source[name][0]  # same shard, same name
    assert index["metadata"]["total_size"] == sum(len(v[3]) for v in tensors.values())
    cfg = json.loads((out / "loftq_init" / "adapter_config.json").read_text())
    for k, v in {"peft_type": "LORA", "task_type": "CAUSAL_LM", "bias": "none",
                 "use_rslora": False, "init_lora_weights": True}.items():
        assert cfg[k] == v, k
    for k in ("r", "lora_alpha", "target_modules", "rank_pattern", "alpha_pattern", "lora_dropout",
              "base_model_name_or_path"):
        assert k in cfg, k
    adapter, _ = read_safetensors(out / "loftq_init" / "adapter_model.safetensors")
    modules = cfg["target_modules"]
    assert sorted(adapter) == sorted(
        f"base_model.model.{m}.lora_{x}.weight" for m in modules for x in "AB")
    all_modules = [n[:-len(".weight")] for n in tensors if n.endswith(".weight")]
    for key in list(cfg["rank_pattern"]) + list(cfg["alpha_pattern"]):
        assert sum(bool(re.match(rf"(.*\.)?({key})$", m)) for m in all_modules) == 1, key
    residuals = final_residuals(out)
    assert sorted(residuals) == sorted(m + ".weight" for m in modules)
    for m in modules:
        name = m + ".weight"
        w = as_f32(*source[name][1:])
        q = as_f32(*tensors[name][1:])
        a = as_f32(*adapter[f"base_model.model.{m}.lora_A.weight"])
        b = as_f32(*adapter[f"base_model.model.{m}.lora_B.weight"])
        r = cfg["rank_pattern"].get(peft_pattern_key(cfg["rank_pattern"], m), cfg["r"])
        alpha = cfg["alpha_pattern"].get(peft_pattern_key(cfg["alpha_pattern"], m),
                                         cfg["lora_alpha"])
        assert a.shape == (r, w.shape[1]) and b.shape == (w.shape[0], r)
        got = np.linalg.norm(w - q - (alpha / r) * b @ a)
        assert got == pytest.approx(residuals[name], rel=1e-5), name
    for name in set(tensors) - {m + ".weight" for m in modules}:
        assert tensors[name][1:] == source[name][1:], name  # bitwise
    return cfg


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "src")


ARGS = ["--rank", "model.layers.0.*=4; transformer.h.0.*=4; *=8", "--steps", "2", "--dtype", "f32"]


def test_export_read_back_independently(folder, tmp_path):
    p = run(f"hf:{folder}", "--out", tmp_path / "out", *ARGS, cwd=tmp_path)
    assert "tensors initialised" in p.stdout
    out = tmp_path / "out"
    cfg = check_export(folder, out)
    assert cfg["r"] == 8 and set(cfg["rank_pattern"]) == {"transformer.h.0.attn.c_attn",
                                                           "transformer.h.0.mlp.c_fc"}
    assert json.loads((out / "config.json").read_text())["model_type"] == "gpt2"
    assert (out / "tokenizer.json").read_text() == (folder / "tokenizer.json").read_text()
    assert not list(tmp_path.glob(".out.partial*"))  # the staging folder is gone
    assert "loftlab init-model" in (out / "loftlab" / "command.txt").read_text()
    show = loftlab("inspect", out / "loftlab", cwd=tmp_path, ok=True)
    assert "init-model" in show.stdout


def test_source_dtype_and_alpha_rank(folder, tmp_path):
    run(f"hf:{folder}", "--out", tmp_path / "o", "--rank", "4", "--alpha", "rank", cwd=tmp_path)
    _, t = read_folder(tmp_path / "o")
    assert t["transformer.h.0.mlp.c_fc.weight"][1] == "BF16"  # --dtype source keeps bf16
    cfg = json.loads((tmp_path / "o" / "loftq_init" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 4


def test_default_targets_are_peft_all_linear_without_the_output_head(tmp_path):
    src = make_folder(tmp_path / "src", layers=2, head=True)
    run(f"hf:{src}", "--out", tmp_path / "o", "--rank", "4", "--steps", "1", "--dtype", "f32",
        cwd=tmp_path)
    cfg = check_export(src, tmp_path / "o")  # lm_head among the tensors copied bit for bit
    assert "lm_head" not in cfg["target_modules"] and len(cfg["target_modules"]) == 4
    run(f"hf:{src}", "--out", tmp_path / "all", "--rank", "4", "--steps", "1", "--dtype", "f32",
        "--targets", "*", cwd=tmp_path)
    assert "lm_head" in check_export(src, tmp_path / "all")["target_modules"]


@pytest.mark.skipif(not (DATA / "stories260K.bin").exists(), reason="../shared/data not present")
def test_stories260k_llama2c_and_hf(tmp_path):
    run(f"hf:{DATA / 'stories260K-hf'}", "--out", tmp_path / "hf", "--rank", "8", "--steps", "2",
        cwd=tmp_path)
    check_export(DATA / "stories260K-hf", tmp_path / "hf")
    # llama2c: a Llama config.json is written and q/k come out in Hugging Face's row order, so the
    # untouched tensors equal the converted Hugging Face folder's.
    run(f"llama2c:{DATA / 'stories260K.bin'}", "--out", tmp_path / "l2c", "--targets", "*mlp*",
        cwd=tmp_path)
    cfg = json.loads((tmp_path / "l2c" / "config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["hidden_size"] == 64
    _, mine = read_folder(tmp_path / "l2c")
    ref, _ = read_safetensors(DATA / "stories260K-hf" / "model.safetensors")
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.3.self_attn.k_proj.weight"):
        assert np.array_equal(as_f32(*mine[name][1:]), as_f32(*ref[name]))


def test_kill_then_resume_is_bitwise_identical(tmp_path):
    src = make_folder(tmp_path / "src", layers=12)
    args = [f"hf:{src}", "--rank", "8", "--steps", "3"]
    run(*args, "--out", tmp_path / "ref", cwd=tmp_path)
    staging = tmp_path / ".cut.partial" / "tensors"
    p = subprocess.Popen([BIN, "init-model", *args, "--out", str(tmp_path / "cut")], cwd=tmp_path,
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(staging.glob("*.safetensors"))) < 3:
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (tmp_path / "cut").exists()  # never a half DIR
    done = len(list(staging.glob("*.safetensors")))
    assert 0 < done
    again = run(*args, "--out", tmp_path / "cut", cwd=tmp_path)
    assert digest(tmp_path / "cut") == digest(tmp_path / "ref")
    m = re.search(r"\((\d+) computed now\)", again.stdout)
    assert m and int(m.group(1)) <= 24 - done + 1  # the killed tensor at most is redone


def test_concurrent_run_refused_and_existing_dir(folder, tmp_path):
    from cli_support import loftlab as raw
    root = tmp_path / ".busy.partial"
    root.mkdir()
    import fcntl
    with open(root / ".sweep.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        p = run(f"hf:{folder}", "--out", tmp_path / "busy", cwd=tmp_path, ok=False)
        assert "in use" in p.stderr
    assert not (tmp_path / "busy").exists()
    run(f"hf:{folder}", "--out", tmp_path / "busy", cwd=tmp_path)
    p = run(f"hf:{folder}", "--out", tmp_path / "busy", cwd=tmp_path, ok=False)
    assert "already exists" in p.stderr and "--force" in p.stderr
    before = digest(tmp_path / "busy")
    run(f"hf:{folder}", "--out", tmp_path / "busy", "--rank", "4", "--force", cwd=tmp_path)
    assert digest(tmp_path / "busy") != before
    del raw


def test_shards_and_assemble_equal_one_run(folder, tmp_path):
    run(f"hf:{folder}", "--out", tmp_path / "one", *ARGS, cwd=tmp_path)
    for i in range(2):
        p = run(f"hf:{folder}", "--out", tmp_path / "split", *ARGS, "--shard", f"{i}/2",
                cwd=tmp_path)
        assert "--assemble" in p.stdout
        assert not (tmp_path / "split").exists()
    run(f"hf:{folder}", "--out", tmp_path / "split", *ARGS, "--assemble", cwd=tmp_path)
    assert digest(tmp_path / "one") == digest(tmp_path / "split")


def test_assemble_before_all_shards_fails(folder, tmp_path):
    run(f"hf:{folder}", "--out", tmp_path / "o", "--shard", "0/2", cwd=tmp_path)
    p = run(f"hf:{folder}", "--out", tmp_path / "o", "--assemble", cwd=tmp_path, ok=False)
    assert "no finished stage" in p.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun not installed")
def test_mpirun_equals_one_run(folder, tmp_path):
    run(f"hf:{folder}", "--out", tmp_path / "one", *ARGS, cwd=tmp_path)
    p = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2", BIN,
                        "init-model", f"hf:{folder}", "--out", str(tmp_path / "mpi"), *ARGS],
                       cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    if p.returncode != 0 and "built without MPI" in p.stderr:
        pytest.skip("loftlab built without MPI")
    assert p.returncode == 0, p.stderr
    assert digest(tmp_path / "one") == digest(tmp_path / "mpi")


def test_dry_run_prints_the_plan(folder, tmp_path):
    p = run(f"hf:{folder}", "--out", tmp_path / "o", "--quant", "transformer.h.0.*=nf2; *=nf4",
            "--dry-run", cwd=tmp_path)
    assert "transformer.h.0.attn.c_attn.weight" in p.stdout and "192x64" in p.stdout
    assert "nf2" in p.stdout and "copy" in p.stdout and "expected output" in p.stdout
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.partial"))


def test_a_budget_allocates_the_quantizers_its_rules_reproduce(folder, tmp_path):
    """--quant budget:B chooses a quantizer per target (the allocation of loftlab allocate); the
    export equals one made with those rules verbatim, and the rules are recorded."""
    args = ["--method", "qlora", "--rank", "4", "--dtype", "f32"]
    p = run(f"hf:{folder}", "--out", tmp_path / "b", "--quant", "budget:3.0", *args, cwd=tmp_path)
    assert "Lagrangian" in p.stdout and "tensors initialised" in p.stdout
    params = json.loads((tmp_path / "b" / "loftlab" / "params.json").read_text())
    assert params["budget"] == "budget:3"
    rules = dict(r.split("=") for r in params["quant"].split("; "))
    assert len(rules) == 6  # one exact rule per target: c_attn and c_fc of 3 blocks
    run(f"hf:{folder}", "--out", tmp_path / "r", "--quant", params["quant"], *args, cwd=tmp_path)
    assert digest(tmp_path / "b") == digest(tmp_path / "r")
    dry = run(f"hf:{folder}", "--out", tmp_path / "d", "--quant", "budget:3.0", "--dry-run", *args,
              cwd=tmp_path)
    for name, spec in rules.items():
        assert re.search(re.escape(name) + r".*\b" + re.escape(spec) + r"\b", dry.stdout), name
    p = run(f"hf:{folder}", "--out", tmp_path / "l", "--quant", "budget:3.0", "--method", "lora",
            cwd=tmp_path, ok=False)
    assert "does not quantise" in p.stderr
    no_output(tmp_path, "l")


def no_output(tmp_path, name):
    assert not (tmp_path / name).exists(), f"{name} must not appear"


@pytest.mark.parametrize("targets,message", [
    ("*nothing*", "nothing"),
    ("transformer.h.0.attn.c_attn.bias", "1-D"),
    ("transformer.conv.weight", "3-D"),
])
def test_bad_targets(folder, tmp_path, targets, message):
    p = run(f"hf:{folder}", "--out", tmp_path / "o", "--targets", targets, cwd=tmp_path, ok=False)
    assert message in p.stderr and targets in p.stderr
    no_output(tmp_path, "o")


def test_no_config_json(folder, tmp_path):
    (folder / "config.json").unlink()
    p = run(f"hf:{folder}", "--out", tmp_path / "o", cwd=tmp_path, ok=False)
    assert "no config.json" in p.stderr
    no_output(tmp_path, "o")


def test_corrupt_shard(folder, tmp_path):
    shard = folder / "model-00002-of-00003.safetensors"
    shard.write_bytes(shard.read_bytes()[:-100])
    p = run(f"hf:{folder}", "--out", tmp_path / "o", cwd=tmp_path, ok=False)
    assert "model-00002-of-00003.safetensors" in p.stderr
    no_output(tmp_path, "o")


def test_disk_full(folder, tmp_path):
    # ulimit -f: a write past 16 KB fails with EFBIG (SIGXFSZ ignored), as a full disk would.
    cmd = (f"trap '' XFSZ; ulimit -f 16; exec {BIN} init-model hf:{folder} --out {tmp_path / 'o'}"
           f" --dtype f32")
    p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1, p.stderr
    assert "error" in p.stderr
    no_output(tmp_path, "o")


def assert_export_starts_in_process(tmp_path, inproc, tok):
    """finetune of the export in tmp_path/exp (model = hf:DIR, adapter = DIR/loftq_init) and of
    the in-process settings `inproc` (config lines) start at the same ppl_init, to 1e-5."""
    import h5py
    common = (f"experiment = finetune\ntokenizer = {tok}\ncorpus = jargon\ntrain_steps = 0\n"
              "batch = 2\nseq_len = 64\neval_tokens = 2048\n")
    (tmp_path / "inproc.ini").write_text("name = inproc\n" + inproc + common)
    (tmp_path / "export.ini").write_text(
        f"name = export\nmodel = hf:{tmp_path / 'exp'}\nadapter = {tmp_path / 'exp' / 'loftq_init'}\n"
        + common)
    ppl = {}
    for name in ("inproc", "export"):
        loftlab("sweep", tmp_path / f"{name}.ini", "--out", tmp_path / name, cwd=tmp_path, ok=True,
                timeout=300)
        with h5py.File(tmp_path / name / "results.h5") as f:
            (pid,) = list(f["points"])
            ppl[name] = float(f["points"][pid]["metrics"]["ppl_init"][()])
    assert ppl["export"] == pytest.approx(ppl["inproc"], rel=1e-5)


@pytest.mark.skipif(not (DATA / "stories260K-hf").exists(), reason="../shared/data not present")
def test_finetune_from_export_reproduces_ppl_init(tmp_path):
    """finetune with model = hf:DIR, adapter = DIR/loftq_init starts where the in-process
    initialisation of the same settings starts."""
    src = DATA / "stories260K-hf"
    run(f"hf:{src}", "--out", tmp_path / "exp", "--rank", "8", "--steps", "2", "--alpha", "16",
        "--dtype", "f32", cwd=tmp_path)
    assert_export_starts_in_process(
        tmp_path, f"model = hf:{src}\nmethod = loftq\nquant = nf4\nrank = 8\nsteps = 2\n"
        "lora_alpha = 16\n", f"llama2c:{DATA / 'tok512.bin'}")
    p = loftlab("sweep", tmp_path / "export.ini", "--set", "adapter=/nonexistent", "--out",
                tmp_path / "bad", cwd=tmp_path, ok=False, timeout=300)
    assert "no adapter_config.json" in p.stderr


@pytest.mark.skipif(not (DATA / "stories260K-hf").exists(), reason="../shared/data not present")
def test_data_aware_export_reproduces_the_in_process_init(tmp_path):
    """init-model --method qera --calib FILE (statistics from loftlab calibrate) exports the
    start that finetune's in-process qera computes from the same calibration key; a data-aware
    method without --calib, and statistics that do not fit, are refused before any work."""
    src = DATA / "stories260K-hf"
    tok = f"llama2c:{DATA / 'tok512.bin'}"
    loftlab("calibrate", f"hf:{src}", "--tokenizer", tok, "--corpus", "jargon", "--tokens", "1024",
            "--seq-len", "64", "--out", "c.h5", cwd=tmp_path, ok=True)
    p = run(f"hf:{src}", "--out", tmp_path / "nocalib", "--method", "qera", cwd=tmp_path, ok=False)
    assert "needs calibration statistics" in p.stderr and "--calib FILE" in p.stderr
    p = run(f"hf:{src}", "--out", tmp_path / "nofisher", "--method", "loftq", "--weight", "fisher",
            "--calib", "c.h5", cwd=tmp_path, ok=False)
    assert "no Fisher for target" in p.stderr
    assert not (tmp_path / "nofisher").exists()
    run(f"hf:{src}", "--out", tmp_path / "exp", "--method", "qera", "--quant", "nf2", "--rank", "8",
        "--alpha", "16", "--dtype", "f32", "--calib", "c.h5", cwd=tmp_path)
    params = json.loads((tmp_path / "exp" / "loftlab" / "params.json").read_text())
    assert params["method"] == "qera" and "jargon" in params["calib"]
    assert_export_starts_in_process(
        tmp_path, f"model = hf:{src}\nmethod = qera\nquant = nf2\nrank = 8\nlora_alpha = 16\n"
        "calib_tokens = 1024\ncalib_seq_len = 64\n", tok)


# bitsandbytes' NF4 code values (bitsandbytes/functional.py, get_4bit_type("nf4")).
BNB_NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                    0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                    0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                    0.7229568362236023, 1.0], np.float32)


def bnb_nf4_codes(x, block=64):
    """What a loader quantising with bitsandbytes' NF4 (blocksize 64, absmax) stores: the code of
    each weight, nearest NF4 value to w / absmax of its block (blocks run over the flat tensor)."""
    flat = np.asarray(x, np.float32).reshape(-1, block)
    absmax = np.abs(flat).max(axis=1, keepdims=True)
    scaled = flat / np.where(absmax == 0, 1, absmax)
    return np.abs(scaled[..., None] - BNB_NF4).argmin(axis=-1), absmax


@pytest.mark.skipif(not (DATA / "stories260K-hf").exists(), reason="../shared/data not present")
def test_bnb_nf4_requantisation_of_the_backbone(tmp_path):
    """Re-quantising the exported Q with bitsandbytes-style NF4: from the float32 backbone it
    recovers loftlab's own codes and scales (so Q comes back exactly); from a bf16 backbone the
    rounding of Q and of its absmax moves some codes. The figure is printed (pytest -s) and
    quoted in README.md."""
    src = DATA / "stories260K-hf"
    for dt in ("f32", "bf16"):
        run(f"hf:{src}", "--out", tmp_path / dt, "--rank", "8", "--steps", "2", "--dtype", dt,
            cwd=tmp_path)
    _, f32 = read_folder(tmp_path / "f32")
    _, bf16 = read_folder(tmp_path / "bf16")
    targets = json.loads((tmp_path / "f32" / "loftq_init" / "adapter_config.json").read_text())
    changed = total = 0
    worst = 0.0
    for m in targets["target_modules"]:
        q = as_f32(*f32[m + ".weight"][1:]).astype(np.float32)
        codes, absmax = bnb_nf4_codes(q)
        again = (BNB_NF4[codes] * absmax).reshape(q.shape)
        np.testing.assert_allclose(again, q, rtol=1e-6, atol=0)  # f32: loftlab's Q exactly
        codes_bf16, absmax_bf16 = bnb_nf4_codes(as_f32(*bf16[m + ".weight"][1:]))
        worst = max(worst, float(np.abs(absmax_bf16 / absmax - 1).max()))
        changed += int((codes_bf16 != codes).sum())
        total += codes.size
    print(f"\nbnb NF4 re-quantisation of the bf16 backbone: {changed} of {total} codes change "
          f"({100 * changed / total:.3f}%); block scales move by up to {worst:.2e} relative")
    assert changed < total // 100  # bf16 keeps 8 bits of the code value: a rare flip
    assert worst <= 2.0 ** -8  # the absmax itself is rounded to bf16


def test_nuclear_norms_only_when_asked(folder, tmp_path):
    import h5py
    for mode in ("none", "ends"):
        run(f"hf:{folder}", "--out", tmp_path / mode, "--rank", "4", "--steps", "2",
            *([] if mode == "none" else ["--nuclear", mode]), cwd=tmp_path)
        with h5py.File(tmp_path / mode / "loftlab" / "results.h5") as f:
            layers = f["points/init-model/layers"]
            for k in layers:
                v = np.asarray(layers[k]["residual_nuclear"])
                assert np.isnan(v).all() if mode == "none" else np.isfinite(v[[0, -1]]).all(), k
    p = run(f"hf:{folder}", "--out", tmp_path / "bad", "--nuclear", "some", cwd=tmp_path, ok=False)
    assert "some" in p.stderr
