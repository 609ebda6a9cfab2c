"""End to end through the CLI: `loftlab generate` on the real stories260K checkpoint.

The expected text is decoded here, in Python, from the 40 greedy ids of ../shared/data/README.md
with the tok512 vocabulary read straight from tok512.bin: an independent decoder, so the test
checks the model, the greedy loop and loftlab's decoder together. (The README's quoted sentence
runs longer than those 40 ids decode to; the ids are the truth.) Skipped when the data is absent.
"""
import os
import struct
import subprocess
from pathlib import Path

import pytest

BIN = os.environ.get("LOFTLAB_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "loftlab")
SOURCE = Path(os.environ.get("LOFTLAB_SOURCE_DIR") or Path(__file__).resolve().parents[2])
DATA = Path(os.environ.get("LOFTLAB_DATA") or SOURCE / ".." / "shared" / "data")
ENV = {**os.environ, "OMP_NUM_THREADS": "2"}

MODEL = DATA / "stories260K.bin"
TOKENIZER = DATA / "tok512.bin"

# ../shared/data/README.md: greedy decoding from BOS, 40 tokens.
GREEDY_40 = [403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401,
             396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432,
             358, 394, 261, 370, 432, 352]
# ../shared/data/README.md: this sentence encodes to BOS + the first 31 greedy ids.
SENTENCE = ("Once upon a time, there was a little girl named Lily. She loved to play outside in "
            "the park.")


@pytest.fixture(autouse=True)
def need_binary():
    if not os.path.exists(BIN):
        pytest.skip(f"loftlab binary not found at {BIN} (set LOFTLAB_BIN)")


@pytest.fixture
def stories():
    if not (MODEL.exists() and TOKENIZER.exists()):
        pytest.skip(f"stories260K data not found in {DATA} (set LOFTLAB_DATA)")
    return f"llama2c:{MODEL}", str(TOKENIZER)


def pieces(path: Path):
    """tok512.bin: int32 max_token_length, then per token float32 score, int32 length, bytes."""
    raw = path.read_bytes()
    off, out = 4, []
    while off < len(raw):
        _, n = struct.unpack_from("<fi", raw, off)
        off += 8
        out.append(raw[off:off + n])
        off += n
    return out


def decode(ids, vocab):
    """llama2.c decoding: drop the leading space of the piece after BOS; <0xHH> is a raw byte."""
    out, prev = b"", 1
    for t in ids:
        p = vocab[t]
        if prev == 1 and p.startswith(b" "):
            p = p[1:]
        if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
            p = bytes([int(p[3:5], 16)])
        out += p
        prev = t
    return out.decode("utf-8")


def generate(*args, ok=True):
    p = subprocess.run([BIN, "generate", *map(str, args)], env=ENV, capture_output=True,
                       text=True, timeout=120)
    if ok:
        assert p.returncode == 0, f"generate {' '.join(map(str, args))}:\n{p.stdout}\n{p.stderr}"
    return p


def test_decoder_here_agrees_with_readme():
    if not TOKENIZER.exists():
        pytest.skip(f"tok512.bin not found in {DATA}")
    text = decode(GREEDY_40, pieces(TOKENIZER))
    assert text.startswith(SENTENCE + " One day, she saw a big,")
    assert decode(GREEDY_40[:31], pieces(TOKENIZER)) == SENTENCE


def test_greedy_40_from_bos(stories):
    model, tok = stories
    expected = decode(GREEDY_40, pieces(TOKENIZER))
    p = generate("--model", model, "--tokenizer", tok, "--steps", 40)
    assert p.stdout == expected + "\n"


def test_prompt_is_continued_greedily(stories):
    model, tok = stories
    vocab = pieces(TOKENIZER)
    # The prompt encodes to the first 31 greedy ids, so 9 more steps must give the same 40 ids.
    p = generate("--model", model, "--tokenizer", tok, "--steps", 9, "--prompt", SENTENCE)
    assert p.stdout == decode(GREEDY_40, vocab) + "\n"
    # Zero steps print the prompt alone.
    p = generate("--model", model, "--tokenizer", tok, "--steps", 0, "--prompt", SENTENCE)
    assert p.stdout == SENTENCE + "\n"


def test_hf_folders_generate_the_same_text(stories):
    _, tok = stories
    expected = decode(GREEDY_40, pieces(TOKENIZER)) + "\n"
    for folder in ("stories260K-hf", "stories260K-hf-bf16"):
        if not (DATA / folder).is_dir():
            continue
        p = generate("--model", f"hf:{DATA / folder}", "--tokenizer", tok, "--steps", 40)
        assert p.stdout == expected, folder


def test_missing_files_and_bad_options_fail_naming_them(stories, tmp_path):
    model, tok = stories
    cases = [
        (["--model", f"llama2c:{tmp_path / 'nomodel.bin'}", "--tokenizer", tok], "nomodel.bin"),
        (["--model", model, "--tokenizer", tmp_path / "notok.bin"], "notok.bin"),
        (["--tokenizer", tok], "--model"),
        (["--model", model, "--tokenizer", tok, "--steps", -1], "steps"),
    ]
    for args, word in cases:
        p = generate(*args, ok=False)
        what = f"generate {' '.join(map(str, args))}"
        assert p.returncode != 0, f"{what} succeeded:\n{p.stdout}"
        assert p.returncode < 128, f"{what} crashed (code {p.returncode}):\n{p.stderr}"
        assert word in p.stderr, f"{what}: '{word}' not in the error:\n{p.stderr}"


def test_help():
    p = generate("--help")
    for word in ("--model", "--tokenizer", "--steps", "--prompt"):
        assert word in p.stdout, word
