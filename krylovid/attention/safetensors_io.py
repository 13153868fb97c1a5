"""Reading ``.safetensors`` files: the ``safetensors`` package when installed, a NumPy memory map otherwise.

The format: an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
mapping tensor names to ``{"dtype", "shape", "data_offsets"}`` (offsets relative
to the end of the header), then the raw little-endian data.  The header is
always parsed and checked here, so a corrupt file gives the same clear
``ValueError`` with either loader.  Install the optional loader with
``pip install krylovid[safetensors]``.
"""

from __future__ import annotations

import importlib
import json
import os
from types import ModuleType

import numpy as np

_st_numpy: ModuleType | None
try:  # optional: the reference loader (small, no torch)
    _st_numpy = importlib.import_module("safetensors.numpy")
except ImportError:  # pragma: no cover - exercised by the memory-map tests
    _st_numpy = None

__all__ = ["read_safetensors", "read_safetensors_header"]

_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def _check_path(path):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no such safetensors file: {path!s}")


def read_safetensors_header(path) -> tuple:
    """``(header, data_start, file_size)`` of a safetensors file, every tensor entry checked.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    header : dict
        Tensor name to ``{"dtype", "shape", "data_offsets"}`` in file order
        (``__metadata__`` removed).
    data_start : int
        Byte offset of the data section (``8 + N``).
    file_size : int

    Raises
    ------
    FileNotFoundError, TypeError, ValueError
        Missing file, bad ``path`` type, or a truncated / inconsistent file.

    Examples
    --------
    >>> import json, struct, tempfile, os
    >>> hdr = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    >>> fn = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    >>> _ = open(fn, "wb").write(struct.pack("<Q", len(hdr)) + hdr + bytes(8))
    >>> read_safetensors_header(fn)[0]["w"]["shape"]
    [2]
    """
    _check_path(path)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError(f"path: {path!s} is too short to be a safetensors file ({size} bytes)")
        n_header = int.from_bytes(head, "little")
        if n_header > size - 8:
            raise ValueError(f"path: {path!s} declares a {n_header}-byte header but has only {size - 8} bytes")
        raw = fh.read(n_header)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"path: {path!s} has a corrupt safetensors JSON header ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"path: {path!s} has a safetensors header that is not a JSON object")
    header.pop("__metadata__", None)
    n_data = size - 8 - n_header
    for name, spec in header.items():
        _check_entry(name, spec, n_data, path)
    return header, 8 + n_header, size


def _check_entry(name, spec, n_data, path):
    if not isinstance(spec, dict) or not {"dtype", "shape", "data_offsets"} <= spec.keys():
        raise ValueError(f"path: tensor {name!r} in {path!s} lacks dtype/shape/data_offsets")
    if spec["dtype"] not in _DTYPES:
        raise ValueError(f"path: tensor {name!r} in {path!s} has unsupported dtype {spec['dtype']!r}")
    start, end = (int(o) for o in spec["data_offsets"])
    count = int(np.prod([int(s) for s in spec["shape"]], dtype=np.int64))
    if not 0 <= start <= end <= n_data or end - start != count * np.dtype(_DTYPES[spec["dtype"]]).itemsize:
        raise ValueError(
            f"path: tensor {name!r} in {path!s} has data_offsets {[start, end]} inconsistent with "
            f"shape {list(spec['shape'])}, dtype {spec['dtype']} and {n_data} data bytes"
        )


def _from_map(mm, spec, data_start) -> np.ndarray:
    """One tensor as a read-only view of the memory map (BF16 widened to float32, a copy)."""
    shape = tuple(int(s) for s in spec["shape"])
    start, end = (int(o) for o in spec["data_offsets"])
    dtype = np.dtype(_DTYPES[spec["dtype"]])
    arr = np.frombuffer(mm, dtype=dtype, count=(end - start) // dtype.itemsize, offset=data_start + start)
    arr = arr.reshape(shape)
    if spec["dtype"] == "BF16":  # bfloat16 = the upper 16 bits of a float32
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
        arr.flags.writeable = False
    return arr


def read_safetensors(path, *, loader: str = "auto") -> dict:
    """Read every tensor of a ``.safetensors`` file into NumPy arrays.

    Parameters
    ----------
    path : str or os.PathLike
    loader : {"auto", "safetensors", "mmap"}
        ``"safetensors"``: the ``safetensors`` package (copies into memory);
        ``"mmap"``: read-only views of a NumPy memory map of the file (no copy);
        ``"auto"`` (default): the package when it is installed, else the map.
        Files with BF16 tensors are always read from the map (NumPy has no
        bfloat16; they are widened to float32).

    Returns
    -------
    dict of str to numpy.ndarray
        Tensors in file order.  F64/F32/F16 keep their precision, BF16 is widened
        to float32 exactly, integer and bool types map to their NumPy equivalents.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, the header is not valid JSON, a dtype is not
        supported, data offsets do not match the declared shape, or ``loader``
        is unknown.
    ModuleNotFoundError
        ``loader="safetensors"`` without the package.

    Examples
    --------
    >>> import json, struct, tempfile, os
    >>> import numpy as np
    >>> hdr = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    >>> fn = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    >>> _ = open(fn, "wb").write(struct.pack("<Q", len(hdr)) + hdr + np.array([1, 2], "<f4").tobytes())
    >>> read_safetensors(fn)["w"].tolist()
    [1.0, 2.0]
    """
    if loader not in ("auto", "safetensors", "mmap"):
        raise ValueError(f"loader must be 'auto', 'safetensors' or 'mmap', got {loader!r}")
    if loader == "safetensors" and _st_numpy is None:
        raise ModuleNotFoundError(
            "loader='safetensors' needs the safetensors package: pip install safetensors", name="safetensors"
        )
    header, data_start, _ = read_safetensors_header(path)
    has_bf16 = any(spec["dtype"] == "BF16" for spec in header.values())
    if _st_numpy is not None and loader != "mmap" and not has_bf16:
        try:
            loaded = _st_numpy.load_file(os.fspath(path))
        except Exception as exc:  # SafetensorError and friends: the header check passed, so the data is bad
            raise ValueError(f"path: the safetensors package could not read {path!s} ({exc})") from None
        return {name: loaded[name] for name in header}
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    return {name: _from_map(mm, spec, data_start) for name, spec in header.items()}
