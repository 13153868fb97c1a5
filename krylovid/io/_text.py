"""Decoding text data files and telling the formats apart by their first bytes.

Private to :mod:`krylovid.io`.
"""

from __future__ import annotations

import re

__all__ = ["decode_text", "sniff", "to_float", "is_number", "HDF5_SIGNATURE", "V73_HINT"]

#: The 8-byte signature of an HDF5 file (at offset 0, or 512 after a MATLAB v7.3 header).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Encodings tried in turn for text files (latin-1 decodes any byte string).
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
#: What to do with a MATLAB v7.3 file, for the error message.
V73_HINT = (
    "a MATLAB v7.3 MAT-file (HDF5), which scipy.io.loadmat cannot read: read it with h5py "
    "(pip install h5py), or save it in MATLAB with save(FILE, '-v7')"
)

_DECIMAL_COMMA = re.compile(r"[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?")


def sniff(head: bytes) -> str | None:
    """``"mat5"``, ``"hdf5"`` (MATLAB v7.3 or plain HDF5), ``"zip"`` or None, from a file's first 520 bytes."""
    if head[:8] == HDF5_SIGNATURE or head[512:520] == HDF5_SIGNATURE or head.startswith(b"MATLAB 7.3"):
        return "hdf5"
    if head.startswith(b"MATLAB 5.0 MAT-file"):
        return "mat5"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return None


def decode_text(data: bytes, path: str) -> tuple[str, str]:
    """``(text, encoding)``: UTF-16 with a BOM, else the first of utf-8-sig, cp1252, latin-1 that decodes.

    Raises ``ValueError`` for data with NUL bytes outside UTF-16 (a binary file).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise ValueError(f"{path}: not a text file (it holds NUL bytes); binary data goes in .npz or .mat files")
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def to_float(cell: str) -> float:
    """``float(cell)``, also for a decimal comma (``"1,5"``, ``"-0,25e-3"``); ``ValueError`` otherwise."""
    try:
        return float(cell)
    except ValueError:
        text = cell.strip()
        if _DECIMAL_COMMA.fullmatch(text):
            return float(text.replace(",", "."))
        raise


def is_number(cell: str) -> bool:
    """True when :func:`to_float` accepts ``cell``."""
    try:
        to_float(cell)
    except ValueError:
        return False
    return True
