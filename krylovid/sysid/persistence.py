"""Saving and loading fitted models without pickle.

File format (version 1): a NumPy ``.npz`` archive (``numpy.savez``, readable
with ``numpy.load(path, allow_pickle=False)`` from any language with an npz
reader) holding

=========================  =====================================================
``metadata``               0-d unicode array: a JSON object (below)
``impulse_response``       float64, shape ``(order_,)`` or ``(m, order_)``
``impulse_response_std``   float64, same shape
``input_offset``           float64, shape ``(m,)``
``posterior_covariance``   float64, ``(m order_, m order_)``; absent when not kept
=========================  =====================================================

The JSON object has ``format`` (``"krylovid.KernelFIR"``), ``version`` (``1``),
``krylovid_version``, ``params`` (constructor arguments; values that are not
JSON — a Kernel object, a callable, a Generator — are replaced by ``null`` and
listed in ``params_dropped``), and the fitted attributes ``order_``,
``delay_``, ``hyperparameters_``, ``input_hyperparameters_``,
``noise_variance_``, ``objective_``, ``n_inputs_``, ``output_offset_``,
``sample_time_``, ``info_`` and ``structure_``.

A loaded model predicts, simulates, gives responses with their bands,
exports, validates and saves again; what needs the evaluator state of the fit
(``lam_curve``, ``convergence_``) raises a clear error.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from .. import __version__
from .structure import StructureSelection

__all__ = ["save_model", "load_model", "FORMAT", "VERSION"]

FORMAT = "krylovid.KernelFIR"
VERSION = 1
_ATTRS = (
    "order_",
    "delay_",
    "hyperparameters_",
    "input_hyperparameters_",
    "noise_variance_",
    "objective_",
    "n_inputs_",
    "output_offset_",
    "sample_time_",
    "info_",
    "_shape_params",
    "_posterior_exact",
    "_problem_meta",
)


def _json_safe(value):
    """``value`` if it survives a JSON round trip unchanged in meaning, else ``None``."""
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return None
    return value


def _plain(obj):
    """NumPy scalars and arrays, tuples and dataclasses as JSON-ready Python values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save_model(model, path) -> None:
    """Write ``model`` (a fitted :class:`~krylovid.KernelFIR`) to ``path`` in format version 1.

    Parameters
    ----------
    model : KernelFIR
    path : str or path-like
        Written as given (``numpy.savez`` appends ``.npz`` to names without it).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from krylovid import KernelFIR
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(200); y = np.convolve(u, 0.7 ** np.arange(10))[:200]
    >>> m = KernelFIR(order=15, method="qr").fit(u, y + 0.01 * rng.standard_normal(200))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> m.save(path)
    >>> bool(np.allclose(KernelFIR.load(path).predict(u), m.predict(u)))
    True
    """
    params, dropped = {}, []
    for k, v in model.get_params().items():
        params[k] = _json_safe(_plain(v))
        if params[k] is None and v is not None:
            dropped.append(k)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "krylovid_version": __version__,
        "params": params,
        "params_dropped": dropped,
        "structure_": _plain(model.structure_) if model.structure_ is not None else None,
    }
    for a in _ATTRS:
        meta[a] = _json_safe(_plain(getattr(model, a)))
    arrays = {
        "metadata": np.array(json.dumps(meta, allow_nan=True)),
        "impulse_response": np.asarray(model.impulse_response_, dtype=np.float64),
        "impulse_response_std": np.asarray(model.impulse_response_std_, dtype=np.float64),
        "input_offset": np.asarray(model.input_offset_, dtype=np.float64),
    }
    cov = model._covariance_or_none()
    if cov is not None:
        arrays["posterior_covariance"] = np.asarray(cov, dtype=np.float64)
    np.savez(os.fspath(path), **arrays)


def load_model(cls, path):
    """Read a model written by :func:`save_model` (``allow_pickle=False``).

    Raises
    ------
    ValueError
        The file is not a krylovid model, or its format version is newer than
        this krylovid reads.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"path: {path!r} is not a saved krylovid model ({exc})") from None
    if "metadata" not in data:
        raise ValueError(f"path: {path!r} is not a saved krylovid model (no 'metadata' entry)")
    meta = json.loads(str(data["metadata"]))
    if meta.get("format") != FORMAT:
        raise ValueError(f"path: {path!r} holds format {meta.get('format')!r}, not {FORMAT!r}")
    if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise ValueError(
            f"path: {path!r} has format version {meta.get('version')!r}; this krylovid reads "
            f"versions up to {VERSION} (upgrade krylovid)"
        )
    params = {k: v for k, v in meta["params"].items() if v is not None}
    model = cls(**{k: v for k, v in params.items() if k in cls._get_param_names()})
    for a in _ATTRS:
        setattr(model, a, meta[a])
    model._problem_meta = tuple(meta["_problem_meta"])
    model.impulse_response_ = data["impulse_response"]
    model.impulse_response_std_ = data["impulse_response_std"]
    model.input_offset_ = data["input_offset"]
    model._covariance = data.get("posterior_covariance")
    model.structure_ = _structure(meta.get("structure_"))
    model._state = model._problem = model._convergence = None
    return model


def _structure(d):
    if d is None:
        return None
    return StructureSelection(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
