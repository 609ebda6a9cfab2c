"""End to end through the CLI: the `pretrain` and `finetune` experiments via `loftlab sweep`.

A tiny byte-level Llama is pretrained once (module fixture) on a small text written here, saved as
a llama2.c checkpoint under $LOFTLAB_MODELS and then used as pretrained:NAME: by `generate`, and by
a finetune sweep over lora / qlora / loftq at nf2 whose results are read with h5py and pandas.
Checked: the checkpoint's header and size, the metrics and curves of both experiments, what must
hold between the methods' perplexities at initialisation, the `diverged` rule, resume (a re-run runs
0 points; a re-pretrain of an existing name evaluates, does not retrain), errors naming a missing
model. With ../shared/data present, a finetune point from llama2c:stories260K.bin + tok512 too.
"""
import math
import os
import struct
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

BIN = os.environ.get("LOFTLAB_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "loftlab")
SOURCE = Path(os.environ.get("LOFTLAB_SOURCE_DIR") or Path(__file__).resolve().parents[2])
DATA = Path(os.environ.get("LOFTLAB_DATA") or SOURCE / ".." / "shared" / "data")

# The model shape of PRETRAIN below, as llama2.c's header orders it.
DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, BYTE_VOCAB, SEQ = 32, 64, 2, 4, 2, 258, 32
PRETRAIN_STEPS = 40
PRETRAIN = f"""# a tiny byte-level Llama
name        = tinypre
experiment  = pretrain
model       = tiny
corpus      = file:corpus.txt
dim         = {DIM}
hidden_dim  = {HIDDEN}
n_layers    = {LAYERS}
n_heads     = {HEADS}
n_kv_heads  = {KV_HEADS}
seq_len     = {SEQ}
batch       = 4
train_steps = {PRETRAIN_STEPS}
lr          = 0.01
warmup      = 4
eval_tokens = 1024
checkpoint_every = 0
"""

FINETUNE_STEPS = 6
FINETUNE = f"""name        = tinyft
experiment  = finetune
model       = pretrained:tiny
corpus      = file:corpus.txt
train_steps = {FINETUNE_STEPS}
eval_every  = 3
batch       = 4
seq_len     = {SEQ}
lr          = 0.005
warmup      = 2
lora_alpha  = 8
eval_tokens = 1024
targets     = *

[grid]
method = lora, qlora, loftq
quant  = nf2
rank   = 4
steps  = 3
seed   = 0
"""


@pytest.fixture(scope="module", autouse=True)
def need_binary():
    if not os.path.exists(BIN):
        pytest.skip(f"loftlab binary not found at {BIN} (set LOFTLAB_BIN)")


def loftlab(*args, cwd, models, ok=True, timeout=180):
    env = {**os.environ, "OMP_NUM_THREADS": "2", "LOFTLAB_MODELS": str(models)}
    p = subprocess.run([BIN, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if ok:
        assert p.returncode == 0, f"loftlab {' '.join(map(str, args))}:\n{p.stdout}\n{p.stderr}"
    return p


SENTENCES = ["the cat sat on the mat.", "the dog ran to the park.", "lily saw a big red ball.",
             "she loved to play outside.", "one day the sun was hot.", "tom had a little boat."]


def write_corpus(path: Path):
    """Paragraphs (blank-line separated documents) of a few simple sentences in a seeded order."""
    rng = np.random.default_rng(1)
    paras = [" ".join(rng.choice(SENTENCES, 6)) for _ in range(300)]
    path.write_text("\n\n".join(paras) + "\n")


def summary(results_h5: Path) -> pd.DataFrame:
    with h5py.File(results_h5, "r") as f:
        df = pd.DataFrame(f["summary"][:])
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].str.decode("utf-8")
    return df


class Work:
    """The folder the sweeps run in (relative file:corpus.txt), and the models folder."""

    def __init__(self, root: Path):
        self.root = root
        self.models = root / "models"
        write_corpus(root / "corpus.txt")
        (root / "pretrain.ini").write_text(PRETRAIN)
        (root / "finetune.ini").write_text(FINETUNE)

    def run(self, *args, ok=True):
        return loftlab(*args, cwd=self.root, models=self.models, ok=ok)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    w = Work(tmp_path_factory.mktemp("finetune"))
    p = w.run("sweep", "pretrain.ini", "--out", w.root / "res" / "pre")
    assert "ran 1 points (0 failed)" in p.stdout, p.stdout + p.stderr
    return w


@pytest.fixture(scope="module")
def finetuned(work):
    p = work.run("sweep", "finetune.ini", "--out", work.root / "res" / "ft")
    assert "ran 3 points (0 failed)" in p.stdout, p.stdout + p.stderr
    return work.root / "res" / "ft"


# ---- pretrain ----

def test_pretrain_writes_a_llama2c_checkpoint(work):
    ckpt = work.models / "tiny" / "model.bin"
    assert ckpt.exists(), sorted(str(p) for p in work.root.rglob("*"))
    raw = ckpt.read_bytes()
    header = struct.unpack("<7i", raw[:28])
    # Positive vocab_size: the classifier shares the token embedding (no wcls).
    assert header == (DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, BYTE_VOCAB, SEQ)
    head, kv = DIM // HEADS, KV_HEADS * DIM // HEADS
    floats = (BYTE_VOCAB * DIM + LAYERS * DIM                     # embeddings, rms_att
              + LAYERS * (DIM * DIM + 2 * kv * DIM + DIM * DIM)   # wq, wk, wv, wo
              + LAYERS * DIM + 3 * LAYERS * HIDDEN * DIM + DIM    # rms_ffn, w1 w2 w3, rms_final
              + SEQ * head)                                        # legacy RoPE tables
    assert len(raw) == 28 + 4 * floats
    assert np.isfinite(np.frombuffer(raw[28:], np.float32)).all()


def test_pretrain_metrics_and_curves(work):
    res = work.root / "res" / "pre" / "results.h5"
    row = summary(res).iloc[0]
    assert row["status"] == "complete" and row["experiment"] == "pretrain"
    # A byte model that learnt anything beats a uniform guess over the 258 tokens by far.
    assert 1 < row["ppl_val"] < 40
    assert row["params"] > 0 and row["tokens_per_s"] > 0 and row["resumed_from"] == 0
    with h5py.File(res, "r") as f:
        (g,) = f["points"].values()
        loss = g["train/loss"][:]
        assert len(loss) == PRETRAIN_STEPS and np.isfinite(loss).all()
        assert loss[-5:].mean() < loss[:5].mean() - 0.5, loss
        assert len(g["train/eval_step"]) == len(g["train/eval_loss"]) > 0
        assert math.exp(g["train/eval_loss"][-1]) == pytest.approx(row["ppl_val"], rel=1e-9)


def test_pretrained_model_generates(work):
    p = work.run("generate", "--model", "pretrained:tiny", "--steps", 20, "--prompt", "the cat")
    text = p.stdout.rstrip("\n")
    assert text.startswith("the cat") and len(text) > len("the cat")
    # A 512-token tokenizer does not belong to a 258-token byte model: refused, naming both.
    tok = DATA / "tok512.bin"
    if tok.exists():
        p = work.run("generate", "--model", "pretrained:tiny", "--tokenizer", f"llama2c:{tok}",
                     ok=False)
        assert p.returncode != 0 and p.returncode < 128
        assert "pretrained:tiny" in p.stderr and "512" in p.stderr, p.stderr


def test_pretrain_rerun_resumes_and_existing_name_is_not_retrained(work):
    ckpt = work.models / "tiny" / "model.bin"
    before = ckpt.read_bytes()
    again = work.run("sweep", "pretrain.ini", "--out", work.root / "res" / "pre")
    assert "ran 0 points (0 failed), 1 already complete" in again.stdout
    # Another results folder, same model name: the saved model is evaluated, not trained again.
    other = work.root / "res" / "pre-again"
    p = work.run("sweep", "pretrain.ini", "--out", other)
    assert "ran 1 points (0 failed)" in p.stdout, p.stdout + p.stderr
    assert summary(other / "results.h5").iloc[0]["resumed_from"] == PRETRAIN_STEPS
    assert ckpt.read_bytes() == before
    # The same name with another shape is refused rather than overwritten.
    wide = work.root / "wide.ini"
    wide.write_text(PRETRAIN.replace(f"dim         = {DIM}", "dim         = 64"))
    p = work.run("sweep", wide, "--out", work.root / "res" / "pre-wide", ok=False)
    assert p.returncode != 0
    assert "another shape" in p.stderr, p.stderr
    assert ckpt.read_bytes() == before


# ---- finetune ----

def test_finetune_metrics_and_curves(finetuned):
    df = summary(finetuned / "results.h5").set_index("method")
    assert sorted(df.index) == ["loftq", "lora", "qlora"]
    assert (df["status"] == "complete").all()
    for col in ("ppl_fp", "ppl_init", "ppl_final", "tokens_per_s"):
        assert np.isfinite(df[col]).all() and (df[col] > 0).all(), col
    # Every point starts from the same full-precision model.
    assert df["ppl_fp"].nunique() == 1
    assert df.loc["lora", "bits_per_weight"] == 32
    assert df.loc["qlora", "bits_per_weight"] == df.loc["loftq", "bits_per_weight"] < 3
    # diverged: 1 exactly when fine-tuning did not improve on the initialisation.
    for m, r in df.iterrows():
        assert r["diverged"] == (0 if r["ppl_final"] < r["ppl_init"] else 1), m
    with h5py.File(finetuned / "results.h5", "r") as f:
        for pid, g in f["points"].items():
            for k in ("ppl_fp", "ppl_init", "ppl_final", "diverged", "tokens_per_s"):
                assert k in g["metrics"], (pid, k)
            loss = g["train/loss"][:]
            assert len(loss) == FINETUNE_STEPS and np.isfinite(loss).all()
            assert list(g["train/eval_step"][:]) == [3, 6]
            eval_loss = g["train/eval_loss"][:]
            assert math.exp(eval_loss[-1]) == pytest.approx(g["metrics/ppl_final"][()], rel=1e-9)


def test_finetune_initial_perplexities(finetuned):
    df = summary(finetuned / "results.h5").set_index("method")
    fp = df.loc["lora", "ppl_fp"]
    # LoRA starts at the full-precision model (B = 0, no quantisation).
    assert df.loc["lora", "ppl_init"] == pytest.approx(fp, rel=1e-6)
    assert df.loc["lora", "residual_rel"] == 0
    # QLoRA starts at the quantised model. 40 steps leave the tiny model near a unigram model, so
    # at nf2 neither "qlora worse than fp" nor "loftq nearer fp than qlora" holds reliably (each
    # failed for some corpus while writing this test): what must hold is that quantisation
    # changes the model and that LoftQ's 3 steps leave less weight error. The real model below
    # shows the paper's order qlora > loftq > fp.
    assert abs(df.loc["qlora", "ppl_init"] - fp) > 1e-6 * fp
    assert abs(df.loc["loftq", "ppl_init"] - fp) > 1e-6 * fp
    assert df.loc["loftq", "residual_rel"] < df.loc["qlora", "residual_rel"]


def test_finetune_rerun_runs_nothing(work, finetuned):
    before = {p.name: p.read_bytes() for p in (finetuned / "points").glob("*.h5")}
    assert len(before) == 3
    p = work.run("sweep", "finetune.ini", "--out", finetuned)
    assert "ran 0 points (0 failed), 3 already complete" in p.stdout
    assert {p.name: p.read_bytes() for p in (finetuned / "points").glob("*.h5")} == before


def test_finetune_under_a_storage_budget(work):
    """quant = budget:B allocates a quantizer per target under the budget, records the choice,
    and fine-tunes the same model as the chosen rules written out verbatim."""
    out = work.root / "res" / "budget"
    p = work.run("sweep", "finetune.ini", "--out", out, "--set", "name=budget",
                 "--set", "grid.method=qlora", "--set", "grid.quant=budget:3.0")
    assert "ran 1 points (0 failed)" in p.stdout, p.stdout + p.stderr
    with h5py.File(out / "results.h5", "r") as f:
        (g,) = f["points"].values()
        rules = g["notes"].attrs["alloc_rules"]
        bits = g["metrics/alloc_bits_per_weight"][()]
        chosen = {n: g["layers"][n].attrs["alloc_quant"] for n in g["layers"]}
        ppl_init = g["metrics/ppl_init"][()]
        assert np.isfinite(g["metrics/ppl_final"][()])
    assert 2.0 < bits <= 3.0
    assert dict(r.split("=") for r in rules.split("; ")) == chosen
    assert len(chosen) == 7 * LAYERS  # every projection of every block
    ruled = work.root / "res" / "ruled"
    work.run("sweep", "finetune.ini", "--out", ruled, "--set", "name=ruled",
             "--set", "grid.method=qlora", "--set", f"grid.quant={rules}")
    df = summary(ruled / "results.h5")
    assert df["ppl_init"].iloc[0] == ppl_init  # the same quantised model


def test_finetune_from_data_aware_initialisations(work):
    """qera and loftq with weight = act calibrate on the training split of the fine-tuning corpus
    (by default), record the activation-weighted residual at init, and fine-tune."""
    out = work.root / "res" / "aware"
    p = work.run("sweep", "finetune.ini", "--out", out, "--set", "name=aware",
                 "--set", "grid.method=qlora,qera,loftq", "--set", "grid.weight=none,act",
                 "--set", "calib_tokens=512", "--set", "calib_seq_len=32")
    # qlora and qera take no weight: 2 + 2 loftq points
    assert "ran 4 points (0 failed)" in p.stdout, p.stdout + p.stderr
    assert p.stderr.count("calibration: computed") == 1, p.stderr  # one key, shared
    df = summary(out / "results.h5")
    plain = df[df["method"] == "qlora"]
    assert len(plain) == 1
    assert plain["calib_corpus"].iloc[0] == ""  # no calibration key for qlora: its id is as before
    aware = df[df["method"].isin(["qera"]) | (df["weight"] == "act")]
    assert len(aware) == 2
    assert (aware["calib_corpus"] == "file:corpus.txt").all()
    for _, r in aware.iterrows():
        assert np.isfinite(r["ppl_init"]) and np.isfinite(r["ppl_final"])
        assert np.isfinite(r["mean_residual_act"])
        assert r["err_reduction_act"] > 0, r  # below QLoRA's output error on the same inputs
    # A data-aware method with no calibration corpus is refused before any work.
    p = work.run("sweep", "finetune.ini", "--out", work.root / "res" / "aware2", "--dry-run",
                 "--set", "grid.method=qera", "--set", "calib_corpus=none", ok=False)
    assert "calib_corpus" in p.stderr and "qera" in p.stderr


def test_finetune_on_quantized_inputs(work):
    """calib_inputs = quantized (ApiQ): the statistics are the point's own, block by block from
    the model whose earlier blocks are initialised; a parameter of data-aware points only, and
    refused where it cannot apply."""
    out = work.root / "res" / "apiq"
    p = work.run("sweep", "finetune.ini", "--out", out, "--set", "name=apiq",
                 "--set", "grid.method=qlora,qera", "--set", "grid.calib_inputs=float,quantized",
                 "--set", "calib_tokens=512", "--set", "calib_seq_len=32")
    assert "ran 3 points (0 failed)" in p.stdout, p.stdout + p.stderr  # qlora once
    assert p.stderr.count("calibration: computed") == 1, p.stderr  # the float statistics only
    df = summary(out / "results.h5")
    qera = df[df["method"] == "qera"].set_index("calib_inputs")
    assert sorted(qera.index) == ["", "quantized"]
    own, shared = qera.loc["quantized"], qera.loc[""]
    assert own["calib_seconds"] > 0 and np.isfinite(own["ppl_final"])
    # The same method on other statistics: another output error (block 0 alone is the same).
    assert own["mean_residual_act"] != shared["mean_residual_act"]
    assert own["err_reduction_act"] > 0
    # The Fisher weighting does not read H: where H comes from does not make another point.
    p = work.run("sweep", "finetune.ini", "--out", work.root / "res" / "apiq3", "--dry-run",
                 "--set", "grid.method=loftq", "--set", "grid.weight=fisher",
                 "--set", "grid.calib_inputs=float,quantized")
    assert "2 grid combinations -> 1 points" in p.stdout, p.stdout
    p = work.run("sweep", "finetune.ini", "--out", work.root / "res" / "apiq2", "--dry-run",
                 "--set", "grid.method=qera", "--set", "calib_inputs=quantized",
                 "--set", "grid.quant=budget:3", ok=False)
    assert "calib_inputs = quantized with quant = budget:3" in p.stderr


def test_finetune_missing_model_is_named(work):
    cfg = work.root / "missing.ini"
    cfg.write_text(FINETUNE.replace("pretrained:tiny", "pretrained:nosuchmodel"))
    p = work.run("sweep", cfg, "--dry-run", "--out", work.root / "res" / "missing", ok=False)
    assert p.returncode != 0 and p.returncode < 128
    assert "nosuchmodel" in p.stderr, p.stderr


STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the "
         "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high. "
         "Lily asked her mom for help. Her mom got the ball and Lily was very happy.")


def test_finetune_from_stories260k(work):
    model, tok = DATA / "stories260K.bin", DATA / "tok512.bin"
    if not (model.exists() and tok.exists()):
        pytest.skip(f"stories260K data not found in {DATA} (set LOFTLAB_DATA)")
    # Distinct paragraphs (the train/validation split is by document hash): names and order vary.
    names = ["Lily", "Sue", "Tom", "Ben", "Anna", "Max", "Mia", "Sam", "Lucy", "Tim", "Amy", "Jack"]
    sentences = STORY.split(". ")
    paras = [". ".join(sentences[k:] + sentences[:k]).replace("Lily", name)
             for name in names for k in range(len(sentences))]
    (work.root / "story.txt").write_text("\n\n".join(paras) + "\n")
    cfg = work.root / "stories.ini"
    cfg.write_text(f"""name = stories
experiment  = finetune
model       = llama2c:{model}
tokenizer   = llama2c:{tok}
corpus      = file:story.txt
train_steps = 1
batch       = 2
seq_len     = 32
lr          = 0.002
warmup      = 0
eval_tokens = 256
targets     = *proj*
[grid]
method = qlora, loftq
quant  = nf2
rank   = 4
steps  = 1
""")
    out = work.root / "res" / "stories"
    p = work.run("sweep", cfg, "--out", out)
    assert "ran 2 points (0 failed)" in p.stdout, p.stdout + p.stderr
    df = summary(out / "results.h5").set_index("method")
    assert (df["tokenizer"] == f"llama2c:{tok}").all()
    for col in ("ppl_fp", "ppl_init", "ppl_final"):
        assert np.isfinite(df[col]).all() and (df[col] > 1).all(), col
    # The real model knows this text well; 2-bit quantisation of every projection hurts it, and
    # LoftQ's one step recovers part of the loss: the paper's order at initialisation.
    fp = df.loc["qlora", "ppl_fp"]
    assert fp < 10
    assert df.loc["qlora", "ppl_init"] > df.loc["loftq", "ppl_init"] > fp
