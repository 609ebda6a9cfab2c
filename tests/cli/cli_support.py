"""Helpers shared by the CLI tests of the reliability guarantees (hostile input, store safety,
chaos): the binary, a runner that never hangs, and small file builders."""
import contextlib
import os
import resource
import signal
import subprocess
from pathlib import Path

import pytest

BIN = os.environ.get("LOFTLAB_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "loftlab")
ENV = {**os.environ, "OMP_NUM_THREADS": "2"}


def need_binary():
    if not os.path.exists(BIN):
        pytest.skip(f"loftlab binary not found at {BIN} (set LOFTLAB_BIN)")


@pytest.fixture(autouse=True)
def require_binary():
    """Imported by a test module, skips its tests when the binary is missing."""
    need_binary()


def loftlab(*args, cwd, ok=None, timeout=60, **kw):
    """Runs loftlab; ok=True/False asserts success/failure (never a signal: a crash is a bug)."""
    p = subprocess.run([BIN, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                       timeout=timeout, **kw)
    what = f"loftlab {' '.join(map(str, args))} -> {p.returncode}:\n{p.stdout}\n{p.stderr}"
    assert p.returncode >= 0, f"killed by signal {-p.returncode}: {what}"
    if ok is True:
        assert p.returncode == 0, what
    if ok is False:
        assert p.returncode == 1, what
        assert "error" in p.stderr, what
    return p


def crc64(data: bytes) -> int:
    """CRC-64/XZ, as loftlab seals its HDF5 files with (lib/io/results/seal.hpp)."""
    table = crc64.table if hasattr(crc64, "table") else None
    if table is None:
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xC96C5795D7870F42 if c & 1 else c >> 1
            table.append(c)
        crc64.table = table
    c = 0xFFFFFFFFFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFFFFFFFFF


@contextlib.contextmanager
def edited_h5(path: Path):
    """A loftlab HDF5 file opened with h5py for editing, and sealed again afterwards, so that the
    edit, not a broken seal, is what the test shows loftlab refusing."""
    import h5py
    data = path.read_bytes()
    if data[-24:-16] == b"LOFTSEAL":
        path.write_bytes(data[:-24])
    with h5py.File(path, "a") as f:
        yield f
    seal(path)


def seal(path: Path) -> Path:
    """Ends an HDF5 file written here (h5py) with loftlab's seal, as loftlab's own files end."""
    import struct
    image = path.read_bytes()
    path.write_bytes(image + b"LOFTSEAL" + struct.pack("<QQ", len(image), crc64(image)))
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_safetensors(path: Path, tensors: dict, header_extra: dict = None) -> Path:
    """float32 tensors as a safetensors file (8-byte header length, JSON header, data)."""
    import json
    import struct

    import numpy as np
    header, blobs, at = dict(header_extra or {}), [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def canonical(value) -> str:
    """lib/sweep/point.hpp's canonical text of one parameter value."""
    import numpy as np
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("parameters are int64, float64 or text")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        text = repr(float(value))
        return text if any(c in text for c in ".eEn") else text + ".0"
    return "".join("\\" + c if c in "\\;=" else c for c in str(value))


def point_id(params: dict) -> str:
    """The id loftlab gives a point: FNV-1a 64 of "key=value;" over sorted keys, top 48 bits."""
    h = 0xcbf29ce484222325
    for c in "".join(f"{k}={canonical(v)};" for k, v in sorted(params.items())).encode():
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h >> 16:012x}"


@contextlib.contextmanager
def small_disk(path: Path, tmpfs_kb: int, file_kb: int):
    """A folder where writes fail for lack of room: a tmpfs of tmpfs_kb mounted there when we
    may mount (root in CI), else a per-file size limit of file_kb (ulimit -f, RLIMIT_FSIZE) for
    the processes started with the preexec_fn this yields. Yields (folder, preexec_fn, kind)."""
    path.mkdir(parents=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={tmpfs_kb}k", "tmpfs", str(path)],
        capture_output=True).returncode == 0
    try:
        if mounted:
            yield path, None, "tmpfs"
        else:
            def limit():
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_kb << 10, file_kb << 10))
            yield path, limit, "ulimit -f"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def out_of_space(stderr: str) -> bool:
    return "No space left on device" in stderr or "File too large" in stderr
