"""End to end through the CLI: the `classify` experiment via `loftlab sweep`.

A tiny byte-level Llama is pretrained (module fixture) and fine-tuned with LoRA and QLoRA plus a
classification head on a two-class file:PATH.tsv task (sentences about animals against sentences
about numbers). Checked: lora's test accuracy is well above the majority baseline; the metrics,
curves and label counts of a point; `inspect` and the summary show them; the analysis report
builds the classification table; a one-class task and an unknown category are errors naming them.
"""
import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from cli_support import loftlab, require_binary  # noqa: F401  (autouse fixture)

SOURCE = Path(os.environ.get("LOFTLAB_SOURCE_DIR") or Path(__file__).resolve().parents[2])

PRETRAIN = """name        = tinycls
experiment  = pretrain
model       = tinycls
corpus      = file:corpus.txt
dim         = 32
hidden_dim  = 64
n_layers    = 2
n_heads     = 4
n_kv_heads  = 2
seq_len     = 48
batch       = 4
train_steps = 30
lr          = 0.01
warmup      = 3
eval_tokens = 1024
checkpoint_every = 0
"""

STEPS = 40
CLASSIFY = f"""name        = cls
experiment  = classify
model       = pretrained:tinycls
task        = file:task.tsv
train_steps = {STEPS}
eval_every  = 10
batch       = 8
seq_len     = 48
lr          = 0.005
warmup      = 2
per_class   = 200
rank        = 4
lora_alpha  = 8
targets     = *

[grid]
method = lora, qlora
quant  = nf4
seed   = 0
"""

ANIMALS = ["the cat sat on the mat", "a dog ran in the park", "the bird sang in a tree",
           "my horse eats hay", "the fish swims fast", "a cow lay in the field"]
NUMBERS = ["4821 9930 1177", "call 555 0192 now", "12 + 30 = 42", "pi is 3.14159",
           "year 1984 and 2001", "room 404 floor 7"]


def write_inputs(root: Path):
    rng = np.random.default_rng(3)
    lines = []
    for i in range(200):
        lines.append(f"animal\t{rng.choice(ANIMALS)} ({i})")
        lines.append(f"number\t{rng.choice(NUMBERS)} #{i}")
    (root / "task.tsv").write_text("\n".join(lines) + "\n")
    (root / "corpus.txt").write_text("\n\n".join(l.split("\t")[1] for l in lines) + "\n")
    (root / "pretrain.ini").write_text(PRETRAIN)
    (root / "classify.ini").write_text(CLASSIFY)


def run(root, *args, ok=True, timeout=300):
    os.environ["LOFTLAB_MODELS"] = str(root / "models")
    return loftlab(*args, cwd=root, ok=ok, timeout=timeout)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    write_inputs(root)
    p = run(root, "sweep", "pretrain.ini", "--out", root / "pre")
    assert "ran 1 points (0 failed)" in p.stdout, p.stdout + p.stderr
    p = run(root, "sweep", "classify.ini", "--out", root / "cls")
    assert "ran 2 points (0 failed)" in p.stdout, p.stdout + p.stderr
    return root


def summary(results_h5: Path) -> pd.DataFrame:
    with h5py.File(results_h5, "r") as f:
        df = pd.DataFrame(f["summary"][:])
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].str.decode("utf-8")
    return df


def test_lora_beats_the_majority_baseline_by_far(swept):
    df = summary(swept / "cls" / "results.h5")
    assert set(df["experiment"]) == {"classify"} and (df["status"] == "complete").all()
    lora = df[df["method"] == "lora"].iloc[0]
    assert lora["majority_acc"] < 0.65
    assert lora["acc"] > lora["majority_acc"] + 0.25, lora.to_dict()
    assert lora["acc"] > 0.85 and lora["macro_f1"] > 0.85
    assert lora["diverged"] == 0 and lora["classes"] == 2 and lora["tokens_per_s"] > 0
    assert 0 <= lora["best_step"] <= STEPS and lora["val_acc"] > lora["majority_val_acc"]
    assert 0.4 < lora["majority_val_acc"] < 0.7
    for _, r in df.iterrows():  # the baselines are the same numbers for every method
        assert r["head_acc"] == lora["head_acc"] and r["majority_acc"] == lora["majority_acc"]


def test_point_holds_curves_and_label_counts(swept):
    with h5py.File(swept / "cls" / "results.h5", "r") as f:
        for g in f["points"].values():
            assert len(g["train/loss"]) == STEPS
            steps = g["train/eval_step"][:]
            assert list(steps) == [0, 10, 20, 30, 40]
            acc = g["train/eval_acc"][:]
            assert len(acc) == len(steps) and len(g["train/eval_f1"]) == len(steps)
            assert g["metrics/val_acc"][()] == pytest.approx(acc.max())
            counts = {k: g[f"layers/{k}/split_counts"][:] for k in ("animal", "number")}
            # 200 examples per class over train/validation/test, the split near 80/10/10.
            for c in counts.values():
                assert c.sum() == 200 and c[0] > 130 and c[1] > 5 and c[2] > 5


def test_inspect_and_report_show_the_accuracy(swept):
    p = run(swept, "inspect", swept / "cls" / "results.h5", "--where", "method=lora", "--all")
    head, row = p.stdout.splitlines()[:2]
    assert "acc" in head.split() and "majority_acc" in head.split() and "task" in head.split()
    assert "file:task.tsv" in row
    # The default view: the constant settings once above, the headline metrics as columns.
    lines = run(swept, "inspect", swept / "cls" / "results.h5", "--where", "method=lora").stdout
    lines = lines.splitlines()
    assert lines[0].startswith("in every row:") and any("file:task.tsv" in l for l in lines)
    table_head = next(l for l in lines[1:] if l.split() and l.split()[0] == "id").split()
    assert "acc" in table_head and "majority_acc" in table_head and "macro_f1" in table_head
    out = swept / "report"
    import subprocess
    r = subprocess.run(["/usr/bin/python3", str(SOURCE / "analysis" / "report.py"),
                        str(swept / "cls"), "--out", str(out)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    md = (out / "tables" / "classify.md").read_text()
    assert "file:task.tsv" in md and "majority class" in md and "lora" in md
    assert (out / "tables" / "classify.tex").exists()
    assert (out / "accuracy_curves.png").exists()


def test_one_class_and_unknown_category_are_errors_naming_them(swept):
    (swept / "one.tsv").write_text("".join(f"only\tline {i}\n" for i in range(50)))
    p = run(swept, "sweep", "classify.ini", "--set", "task=file:one.tsv", "--set", "name=one",
            "--out", swept / "one", "--dry-run", ok=False)
    assert "one.tsv" in p.stderr and "two at least" in p.stderr, p.stderr
    if Path("/usr/share/games/fortunes/love").exists():
        p = run(swept, "sweep", "classify.ini", "--set", "task=fortunes:love+nosuchtopic",
                "--set", "name=bad", "--out", swept / "bad", "--dry-run", ok=False)
        assert "nosuchtopic" in p.stderr, p.stderr


def test_data_aware_initialisations_classify(swept):
    """qera and loftq with weight = act start the classifier too, calibrated on the corpus
    named by calib_corpus, and record their output error at init."""
    p = run(swept, "sweep", "classify.ini", "--set", "name=aware", "--out", swept / "aware",
            "--set", "grid.method=qera,loftq", "--set", "weight=act",
            "--set", "calib_corpus=file:corpus.txt", "--set", "calib_tokens=512",
            "--set", "calib_seq_len=32")
    assert "ran 2 points (0 failed)" in p.stdout, p.stdout + p.stderr
    df = summary(swept / "aware" / "results.h5")
    assert set(df["method"]) == {"qera", "loftq"} and (df["status"] == "complete").all()
    assert (df["calib_corpus"] == "file:corpus.txt").all()
    for _, r in df.iterrows():
        assert 0 <= r["acc"] <= 1 and r["err_reduction_act"] > 0, r.to_dict()
    p = run(swept, "sweep", "classify.ini", "--set", "name=aware2", "--out", swept / "aware2",
            "--set", "grid.method=qera", "--dry-run", ok=False)
    assert "calib_corpus" in p.stderr
