#!/usr/bin/python3
"""Writes the seed corpus of every harness under tests/fuzz/corpus/<harness>/: small valid inputs
of each format (and a few near misses), so fuzzing starts from the formats' structure. Seeds are
deterministic; run again after changing this script and commit what changes. Files already in a
corpus folder (regressions from crashes found) are kept.

    /usr/bin/python3 tests/fuzz/make_seeds.py [--loftlab BUILD/loftlab]

--loftlab runs a tiny sweep to take real point files for the point_file harness."""
import argparse
import json
import os
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
DATA = HERE.parents[1].parent / "shared" / "data"
SEP = b"\\\n"  # ends a FuzzedDataProvider::ConsumeRandomLengthString field


def seed(harness, name, data):
    d = CORPUS / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, dtype="F32", metadata=None):
    np_type = {"F32": np.float32, "F16": np.float16, "F64": np.float64}[dtype]
    header, blobs, at = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, np_type).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def npy(a, version=(1, 0)):
    import io
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def llama2c(dim=8, hidden=16, layers=1, heads=2, kv_heads=1, vocab=16, seq=4, tied=True):
    hs = dim // heads
    kv = kv_heads * hs
    n = (vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hidden * dim)
         + dim + seq * hs)
    if not tied:
        n += vocab * dim
    header = struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab if tied else -vocab, seq)
    return header + np.linspace(-1, 1, n, dtype=np.float32).tobytes()


def tokenizer(pieces, max_len=None):
    out = struct.pack("<i", max_len or max(len(p) for p in pieces))
    for i, p in enumerate(pieces):
        out += struct.pack("<fi", float(-i), len(p)) + p
    return out


def small_vocab():
    return ([b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % i for i in range(256)]
            + [b" ", b"a", b"b", b"ab", b" ab", b"ba", b"\xc3\xa9"])


def config_json(**over):
    c = {"hidden_size": 8, "intermediate_size": 16, "num_attention_heads": 2,
         "num_hidden_layers": 1, "num_key_value_heads": 1, "vocab_size": 16,
         "max_position_embeddings": 4, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
         "tie_word_embeddings": True}
    c.update(over)
    return json.dumps(c)


def tiny_hf_model():
    rng = np.random.default_rng(0)
    t = {"model.embed_tokens.weight": rng.standard_normal((16, 8)),
         "model.norm.weight": np.ones(8)}
    for name, shape in [("self_attn.q_proj", (8, 8)), ("self_attn.k_proj", (4, 8)),
                        ("self_attn.v_proj", (4, 8)), ("self_attn.o_proj", (8, 8)),
                        ("mlp.gate_proj", (16, 8)), ("mlp.up_proj", (16, 8)),
                        ("mlp.down_proj", (8, 16))]:
        t[f"model.layers.0.{name}.weight"] = rng.standard_normal(shape)
    for norm in ["input_layernorm", "post_attention_layernorm"]:
        t[f"model.layers.0.{norm}.weight"] = np.ones(8)
    return t


def strings():
    for i, s in enumerate(["nf4", "nf2:b128", "int4:asym", "uniform2:meanstd", "nf4:dq", "mxfp4",
                           "int8:asym:b32:dq", "fp4:b16", "nf3:b1048576", "uniform3:meanstd:b64:dq",
                           "nf4:b0", "int4:asym:asym", ""]):
        seed("quant_spec", f"spec{i:02d}", s)
    for i, s in enumerate(["exact", "exact-gesdd", "randomized", "randomized:p=10:q=2",
                           "randomized:q=0", "randomized:p=2147483647", "exact:p=1"]):
        seed("svd_spec", f"spec{i:02d}", s)
    for i, (tensor, rules) in enumerate([
            ("model.layers.0.self_attn.q_proj.weight", "model.layers.{0..3}.*=nf4; *=nf2"),
            ("model.layers.12.mlp.up_proj.weight", "*.mlp.*=energy:0.9; *=16"),
            ("synthetic.0.weight", "synthetic.0.weight=5"),
            ("a.b", "[!a-c]?.*=8, *=4"), ("layers.7.x", "layers.{2..11}.x=nf3"),
            ("x", "64"), ("x", "energy:1"), ("x", "*=int4:asym:b128:dq;"),
            ("layers.99999999999999999999.x", "layers.{0..99999999999999999999}.x=2")]):
        seed("rules", f"rule{i:02d}", tensor.encode() + SEP + rules.encode())
    ini = (HERE.parents[1] / "sweeps" / "default_residual.ini").read_text()
    seed("sweep_config", "default_residual", ini.encode() + b"\0")
    tiny = ("name = tiny\nexperiment = residual\nsource = synthetic:gaussian:shape=32x32:count=2\n"
            "[grid]\nmethod = qlora, loftq\nquant = nf2, nf4\nrank = 2\n")
    seed("sweep_config", "tiny", tiny.encode() + b"\0")
    seed("sweep_config", "tiny_sets", b"grid.rank=4,8" + SEP + b"name=x" + SEP + tiny.encode() + b"\2")
    seed("sweep_config", "rule_set",
         b"grid.rank=synthetic.0.weight=5" + SEP + tiny.encode() + b"\1")
    for name in ["default_finetune", "default_pretrain"]:
        p = HERE.parents[1] / "sweeps" / f"{name}.ini"
        seed("sweep_config", name, p.read_bytes() + b"\0")
    for i, s in enumerate(["synthetic:gaussian:shape=8x8:count=2", "synthetic:student-t:df=3",
                           "synthetic:lowrank:shape=16x8:rank=2:decay=0.5:noise=0.1:seed=7",
                           "synthetic:gaussian:shape=1x1:std=0", "npy:.", "hf:.",
                           "llama2c:model.bin", "pretrained:tiny", "synthetic:gaussian:shape=0x4"]):
        seed("source_spec", f"spec{i:02d}", s)


def files():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4))
    seed("safetensors", "f32", safetensors({"a.weight": a, "b": np.ones(5)}, metadata={"format": "pt"}))
    seed("safetensors", "f16", safetensors({"a.weight": a}, "F16"))
    seed("safetensors", "f64", safetensors({"x": a.reshape(2, 6), "s": np.zeros(())}, "F64"))
    seed("safetensors", "empty", safetensors({}))
    seed("npy", "f32_v1", npy(a.astype(np.float32)))
    seed("npy", "f16_v2", npy(a.astype(np.float16), (2, 0)))
    seed("npy", "f64_v3", npy(np.arange(6.0).reshape(1, 6), (3, 0)))
    seed("npy", "scalar", npy(np.float32(1.5)))
    seed("npy", "vector", npy(np.ones(7, np.float32)))
    seed("npy", "fortran", npy(np.asfortranarray(a.astype(np.float32))))
    seed("llama2c", "tied", llama2c())
    seed("llama2c", "untied", llama2c(tied=False))
    seed("llama2c", "header_only", llama2c()[:28])
    text = "ab ba é\n"
    seed("tokenizer", "small", text.encode() + SEP + tokenizer(small_vocab()))
    seed("tokenizer", "no_fallback", b"abc" + SEP + tokenizer([b"<unk>", b"a", b"b"]))
    if (DATA / "tok512.bin").exists():
        seed("tokenizer", "tok512", b"Once upon a time" + SEP + (DATA / "tok512.bin").read_bytes())
    seed("hf_config", "tiny", config_json())
    seed("hf_config", "gqa_rope", config_json(num_attention_heads=4, num_key_value_heads=2,
                                              rope_theta=500000.0, tie_word_embeddings=False))
    seed("hf_config", "minimal", json.dumps({"hidden_size": 8, "intermediate_size": 16,
                                             "num_attention_heads": 2, "num_hidden_layers": 1,
                                             "vocab_size": 16}))
    if (DATA / "stories260K-hf" / "config.json").exists():
        seed("hf_config", "stories260K", (DATA / "stories260K-hf" / "config.json").read_bytes())
    model = safetensors(tiny_hf_model())
    seed("hf_folder", "tiny", config_json().encode() + SEP + model)
    seed("hf_folder", "no_config", SEP + model)
    seed("hf_folder", "bf16_named_f16", config_json().encode() + SEP
         + safetensors({"model.embed_tokens.weight": np.ones((16, 8))}, "F16"))
    index = {"metadata": {"total_size": 44},
             "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                            "b.weight": "model-00001-of-00002.safetensors",
                            "c.weight": "sub/model-00002-of-00002.safetensors"}}
    seed("hf_index", "both_shards", json.dumps(index))
    del index["weight_map"]["c.weight"]
    seed("hf_index", "one_shard", json.dumps(index))
    seed("hf_index", "outside", json.dumps({"weight_map": {"a.weight": "../m/model-00001-of-00002.safetensors"}}))
    seed("point_file", "not_hdf5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    seed("hf_index", "missing", json.dumps({"weight_map": {"z.weight": "model-00001-of-00002.safetensors"}}))


def points(loftlab):
    with tempfile.TemporaryDirectory() as tmp:
        ini = Path(tmp) / "p.ini"
        ini.write_text("name = p\nexperiment = residual\n"
                       "source = synthetic:gaussian:shape=8x8:count=1:seed=1\n"
                       "[grid]\nmethod = qlora, loftq\nquant = nf2\nrank = 2\n")
        subprocess.run([loftlab, "sweep", str(ini)], cwd=tmp, check=True, capture_output=True)
        for i, f in enumerate(sorted((Path(tmp) / "results" / "p" / "points").glob("*.h5"))):
            seed("point_file", f"point{i}", f.read_bytes())
            # An HDF5 file of another layout: the calibration reader must refuse it cleanly.
            seed("calibration", f"other-layout{i}", f.read_bytes())
        seed("point_file", "results", (Path(tmp) / "results" / "p" / "results.h5").read_bytes())
        # A cost cache as a budget point leaves it, and a sealed HDF5 file of another layout.
        env = dict(os.environ, LOFTLAB_COST_CACHE=str(Path(tmp) / "costs"))
        subprocess.run([loftlab, "allocate", "synthetic:gaussian:shape=8x64:count=2:seed=1",
                        "--budget", "budget:3:candidates=nf2+nf3:blocks=64", "--method", "qlora"],
                       cwd=tmp, check=True, capture_output=True, env=env)
        seed("cost_cache", "valid", (Path(tmp) / "costs" / "alloc_costs.h5").read_bytes())
        seed("cost_cache", "other-layout", (Path(tmp) / "results" / "p" / "results.h5").read_bytes())


def calibration_file():
    """A calibration file as loftlab calibrate writes it (one 8 x 8 second moment), sealed."""
    import sys

    import h5py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    from cli_support import crc64
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.h5"
        with h5py.File(path, "w") as f:
            f.attrs["format"] = "loftlab-calibration"
            for k, v in [("version", 1), ("tokens", 64), ("seq_len", 8), ("seed", 0),
                         ("fisher", 0), ("tokens_used", 64)]:
                f.attrs[k] = np.int64(v)
            for k in ("model", "corpus", "tokenizer"):
                f.attrs[k] = "seed"
            f.attrs["seconds"] = 0.0
            f.create_group("h").create_dataset("model.layers.0.self_attn.q_proj.weight",
                                               data=np.eye(8) * 2.0)
        image = path.read_bytes()
    return image + b"LOFTSEAL" + struct.pack("<QQ", len(image), crc64(image))


def new_parsers():
    seed("budget_spec", "plain", "budget:3.0")
    seed("budget_spec", "full", "budget:2.5:candidates=nf2+nf3+nf4:blocks=64+128:dq=both:adapter")
    seed("budget_spec", "near-miss", "budget:abc:blocks=")
    seed("task_tsv", "two-labels",
         "".join(f"{'pos' if i % 2 else 'neg'}\tsentence number {i} of the task\n" for i in range(40)))
    seed("task_tsv", "bad-line", "pos\tfine\nno tab here\n")
    seed("task_tsv", "one-class", "a\tx\na\ty\n")
    # The harness's model has one layer of width 8; r = 2 on q_proj.
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4,
           "target_modules": ["model.layers.0.self_attn.q_proj"], "bias": "none",
           "use_rslora": False}
    m = "base_model.model.model.layers.0.self_attn.q_proj"
    a, b = np.full((2, 8), 0.1, np.float32), np.full((8, 2), 0.2, np.float32)
    good = safetensors({m + ".lora_A.weight": a, m + ".lora_B.weight": b})
    seed("peft_adapter", "valid", json.dumps(cfg).encode() + SEP + good)
    bad = safetensors({m + ".lora_A.weight": a[:, :7].copy(), m + ".lora_B.weight": b})
    seed("peft_adapter", "wrong-shape", json.dumps(cfg).encode() + SEP + bad)
    seed("calibration", "not-hdf5", b"not hdf5")
    seed("cost_cache", "not-hdf5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    seed("calibration", "valid", calibration_file())
    seed("peft_adapter", "dora", json.dumps(dict(cfg, use_dora=True)).encode() + SEP + good)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--loftlab", help="a loftlab binary, for the point_file seeds")
    args = ap.parse_args()
    strings()
    files()
    new_parsers()
    if args.loftlab:
        points(args.loftlab)
