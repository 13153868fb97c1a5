"""Tests for krylovid.attention.safetensors_io: both loaders against arrays written here by hand."""

import json
import struct

import numpy as np
import pytest

from krylovid.attention import safetensors_io as ST

LOADERS = [
    "mmap",
    pytest.param("safetensors", marks=pytest.mark.skipif(ST._st_numpy is None, reason="safetensors not installed")),
]


def _write(path, tensors, header_override=None):
    header, blobs, off = {"__metadata__": {"format": "np"}}, [], 0
    for name, (dt, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if header_override:
        header.update(header_override)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return path


@pytest.mark.parametrize("loader", LOADERS)
def test_roundtrip(tmp_path, loader):
    rng = np.random.default_rng(0)
    a64 = rng.standard_normal((3, 4))
    a32 = rng.standard_normal(5).astype("<f4")
    a16 = rng.standard_normal((2, 2)).astype("<f2")
    ints = np.arange(6, dtype="<i8").reshape(2, 3)
    p = _write(
        tmp_path / "t.safetensors",
        {
            "a64": ("F64", a64),
            "a32": ("F32", a32),
            "a16": ("F16", a16),
            "i": ("I64", ints),
            "b": ("BOOL", np.array([True, False])),
        },
    )
    out = ST.read_safetensors(p, loader=loader)
    assert list(out) == ["a64", "a32", "a16", "i", "b"]
    for name, ref in (("a64", a64), ("a32", a32), ("a16", a16), ("i", ints)):
        assert out[name].dtype == ref.dtype
        np.testing.assert_array_equal(out[name], ref)
    np.testing.assert_array_equal(out["b"], [True, False])


def test_bfloat16_widened_exactly(tmp_path):
    # float32 values exactly representable in bf16 (low 16 bits zero)
    bf_vals = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
    bf_raw = (bf_vals.view(np.uint32) >> 16).astype("<u2")
    p = _write(tmp_path / "bf.safetensors", {"bf": ("BF16", bf_raw), "x": ("F32", np.ones(2, "<f4"))})
    out = ST.read_safetensors(p)  # any loader: NumPy has no bfloat16, the map decodes it
    assert out["bf"].dtype == np.float32
    np.testing.assert_array_equal(out["bf"], bf_vals)
    np.testing.assert_array_equal(out["x"], [1.0, 1.0])


def test_mmap_views_are_read_only(tmp_path):
    p = _write(tmp_path / "m.safetensors", {"x": ("F32", np.arange(4, dtype="<f4"))})
    x = ST.read_safetensors(p, loader="mmap")["x"]
    assert isinstance(x.base, (np.memmap, memoryview)) or not x.flags.owndata  # a view, no copy
    with pytest.raises(ValueError):
        x[0] = 1.0


@pytest.mark.parametrize("loader", LOADERS)
def test_corrupt_files(tmp_path, loader):
    with pytest.raises(FileNotFoundError, match="path"):
        ST.read_safetensors(tmp_path / "missing.safetensors", loader=loader)
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    with pytest.raises(ValueError, match="too short"):
        ST.read_safetensors(short, loader=loader)
    big = tmp_path / "big"
    big.write_bytes(struct.pack("<Q", 10**6) + b"{}")
    with pytest.raises(ValueError, match="header"):
        ST.read_safetensors(big, loader=loader)
    bad_json = tmp_path / "badjson"
    bad_json.write_bytes(struct.pack("<Q", 5) + b"{nope")
    with pytest.raises(ValueError, match="JSON"):
        ST.read_safetensors(bad_json, loader=loader)
    arr = np.ones(4, "<f4")
    p = _write(tmp_path / "off", {"x": ("F32", arr)}, {"x": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}})
    with pytest.raises(ValueError, match="data_offsets"):
        ST.read_safetensors(p, loader=loader)
    p = _write(tmp_path / "dt", {"x": ("F32", arr)}, {"x": {"dtype": "C64", "shape": [2], "data_offsets": [0, 16]}})
    with pytest.raises(ValueError, match="unsupported dtype"):
        ST.read_safetensors(p, loader=loader)
    with pytest.raises(TypeError, match="path"):
        ST.read_safetensors(3, loader=loader)


def test_bad_loader(tmp_path, monkeypatch):
    p = _write(tmp_path / "t", {"x": ("F32", np.ones(2, "<f4"))})
    with pytest.raises(ValueError, match="loader"):
        ST.read_safetensors(p, loader="torch")
    monkeypatch.setattr(ST, "_st_numpy", None)
    with pytest.raises(ModuleNotFoundError, match="safetensors"):
        ST.read_safetensors(p, loader="safetensors")
    np.testing.assert_array_equal(ST.read_safetensors(p)["x"], [1.0, 1.0])  # auto falls back to the map


def test_header_reader(tmp_path):
    p = _write(tmp_path / "h", {"x": ("F64", np.zeros((2, 3)))})
    header, start, size = ST.read_safetensors_header(p)
    assert header == {"x": {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]}}
    assert size - start == 48
