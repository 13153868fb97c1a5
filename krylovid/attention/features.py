"""Kernel (feature-map) reformulations of attention: Performer, RFA, elu+1, cosFormer.

One interface: a :class:`FeatureMap` maps rows ``x`` to non-negative (or, for
trigonometric features, real) features ``phi(x)`` so that
``phi(q) . phi(k)`` approximates a similarity ``kappa(q, k)``;
:func:`kernel_attention` then computes

``Y = phi(Q) (phi(K)^T V) / (phi(Q) phi(K)^T 1)``

in ``O(n m d_v)`` instead of ``O(n^2 d)``.  The causal path uses prefix sums of
``phi(k_j) v_j^T``, processed in chunks (exact masked products inside a chunk,
a running ``(m, d_v)`` state between chunks), so memory stays
``O(chunk^2 + m d_v)`` per head.

Random feature matrices are drawn once, on the host, from the explicit
``rng`` at construction, and copied to the namespace/dtype of the input on the
first call (an explicit host -> device boundary, cached afterwards).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_int
from ..backend import array_namespace, asarray, default_rng
from ._common import causal_mask, check_qkv, matmul_t

__all__ = [
    "FeatureMap",
    "PositiveRandomFeatures",
    "TrigRandomFeatures",
    "EluFeatures",
    "CosformerFeatures",
    "kernel_attention",
    "performer_attention",
    "random_feature_attention",
    "linear_attention",
    "cosformer_attention",
    "gaussian_projection",
]


class FeatureMap:
    """Interface of a feature map ``phi`` for :func:`kernel_attention`.

    Subclasses implement ``__call__(X, is_query)`` returning ``phi(X)`` of
    shape ``(..., n, num_features)`` for ``X`` of shape ``(..., n, d)``.
    ``is_query`` lets a map treat queries and keys differently (e.g. the
    numerical stabiliser of positive random features); any factor that is
    constant per query row, or constant over all keys, cancels in the
    attention normalisation.
    """

    #: Output feature dimension ``m`` (None when it depends on the input).
    num_features = None

    def __call__(self, X, is_query: bool):
        raise NotImplementedError


def gaussian_projection(d, num_features, *, orthogonal=True, rng=None) -> np.ndarray:
    """Host ``(num_features, d)`` Gaussian projection, optionally block-orthogonal.

    With ``orthogonal=True`` the rows come in blocks of ``d`` exactly
    orthogonal directions (QR of a Gaussian matrix) whose norms are redrawn
    independently from the chi distribution with ``d`` degrees of freedom, so
    each row is still marginally ``N(0, I_d)`` (the Performer ORF construction).
    """
    d = check_int(d, "d", minimum=1)
    m = check_int(num_features, "num_features", minimum=1)
    gen = default_rng(rng)
    if not orthogonal:
        return gen.standard_normal((m, d))
    blocks = []
    for _ in range(-(-m // d)):
        Qm, R = np.linalg.qr(gen.standard_normal((d, d)))
        Qm = Qm * np.sign(np.where(np.diag(R) == 0, 1.0, np.diag(R)))  # Haar-distributed
        blocks.append(Qm.T)
    W = np.concatenate(blocks, axis=0)[:m]
    norms = np.linalg.norm(gen.standard_normal((m, d)), axis=1)
    return W * norms[:, None]


class _Projected(FeatureMap):
    """Shared storage of a host projection copied lazily to the input's backend."""

    def __init__(self, d, num_features, orthogonal, rng):
        self.d = check_int(d, "d", minimum=1)
        self.num_projections = check_int(num_features, "num_features", minimum=1)
        self.W = gaussian_projection(self.d, self.num_projections, orthogonal=orthogonal, rng=rng)
        self._cache = {}

    def _proj(self, X):
        if int(X.shape[-1]) != self.d:
            raise ValueError(f"X must have feature size d={self.d}, got shape {tuple(X.shape)}")
        xp = array_namespace(X)
        key = (id(xp), str(X.dtype))
        if key not in self._cache:
            self._cache[key] = asarray(self.W, xp, dtype=X.dtype)
        return xp, matmul_t(xp, X, self._cache[key])


class PositiveRandomFeatures(_Projected):
    """Performer FAVOR+ positive random features for ``exp(x . y)``.

    ``phi(x) = exp(W x - |x|^2 / 2) / sqrt(m)`` with ``W`` of shape ``(m, d)``
    (rows ``N(0, I)``, block-orthogonal by default).

    Parameters
    ----------
    d : int
        Input dimension.
    num_features : int
        Number ``m`` of random features.
    orthogonal : bool
        Block-orthogonal rows with chi-distributed norms (lower variance).
    rng : None, int or Generator
    stabilize : bool
        Subtract the per-row maximum (queries) or the global maximum over keys
        (keys) of the exponent before ``exp``; these factors cancel in
        attention.  Set False to get the raw, unbiased features.

    Notes
    -----
    For ``w ~ N(0, I)``, ``E[exp(w.x - |x|^2/2) exp(w.y - |y|^2/2)] =
    exp(x.y)``, so ``phi(x).phi(y)`` is an unbiased estimate of ``exp(x.y)``
    (Choromanski et al., 2021), and every feature is positive, so the
    estimated normaliser is positive.

    Examples
    --------
    >>> import numpy as np
    >>> f = PositiveRandomFeatures(4, 256, rng=0, stabilize=False)
    >>> x = np.full((1, 4), 0.3)
    >>> est = float((f(x, True) @ f(x, False).T)[0, 0])
    >>> bool(abs(est / np.exp(x @ x.T)[0, 0] - 1) < 0.2)
    True
    """

    def __init__(self, d, num_features, orthogonal=True, rng=None, stabilize=True):
        super().__init__(d, num_features, orthogonal, rng)
        self.num_features = self.num_projections
        self.stabilize = bool(stabilize)

    def log_features(self, X):
        """Exponents ``W x - |x|^2/2 - log(m)/2`` of shape ``(..., n, m)``."""
        xp, WX = self._proj(X)
        sq = xp.sum(X * X, axis=-1, keepdims=True) / 2
        return WX - sq - 0.5 * math.log(self.num_features)

    def __call__(self, X, is_query: bool):
        xp = array_namespace(X)
        Z = self.log_features(X)
        if self.stabilize:
            if is_query:
                Z = Z - xp.max(Z, axis=-1, keepdims=True)
            else:
                Z = Z - xp.max(xp.max(Z, axis=-1, keepdims=True), axis=-2, keepdims=True)
        return xp.exp(Z)


class TrigRandomFeatures(_Projected):
    """Random Fourier (RFA) features ``[sin(W x), cos(W x)]``.

    Parameters
    ----------
    d : int
        Input dimension.
    num_features : int
        Number ``D`` of random frequencies; the output has ``2 D`` features.
    orthogonal : bool
        Block-orthogonal frequencies (as for :class:`PositiveRandomFeatures`).
    rng : None, int or Generator
    normalize : bool
        False (default): ``phi(x) = exp(|x|^2/2) [sin(Wx), cos(Wx)] / sqrt(D)``,
        an unbiased estimate of ``exp(x.y)``.  True (RFA as published): inputs
        are l2-normalised and the constant ``exp(1/2)`` dropped, so
        ``phi(x).phi(y)`` estimates ``exp(x^.y^ - 1)``, a Gaussian kernel of the
        unit vectors.
    stabilize : bool
        Divide the ``exp(|x|^2/2)`` factor by its per-row value (queries) or
        its maximum over keys (keys); these factors cancel in attention.  Set
        False to get the raw, unbiased features.

    Notes
    -----
    ``E[cos(w.(x - y))] = exp(-|x - y|^2/2)`` for ``w ~ N(0, I)`` (Bochner), and
    ``exp(x.y) = exp(|x|^2/2) exp(|y|^2/2) exp(-|x-y|^2/2)``; hence the
    unnormalised features are unbiased for the softmax kernel.  Unlike positive
    features they can give negative or near-zero normalisers (large variance).
    The ``exp(|x|^2/2)`` factor is stabilised as for positive features.

    Examples
    --------
    >>> import numpy as np
    >>> f = TrigRandomFeatures(3, 64, rng=0)
    >>> f(np.zeros((2, 3)), True).shape
    (2, 128)
    """

    def __init__(self, d, num_features, orthogonal=True, rng=None, normalize=False, stabilize=True):
        super().__init__(d, num_features, orthogonal, rng)
        self.num_features = 2 * self.num_projections
        self.normalize = bool(normalize)
        self.stabilize = bool(stabilize)

    def __call__(self, X, is_query: bool):
        xp = array_namespace(X)
        sq = xp.sum(X * X, axis=-1, keepdims=True)
        if self.normalize:
            X = X / xp.sqrt(xp.where(sq > 0, sq, xp.ones_like(sq)))
        _, WX = self._proj(X)
        F = xp.concat([xp.sin(WX), xp.cos(WX)], axis=-1) / math.sqrt(self.num_projections)
        if self.normalize:
            return F
        h = sq / 2
        if self.stabilize:
            h = h - (h if is_query else xp.max(h, axis=-2, keepdims=True))
        return F * xp.exp(h)


class EluFeatures(FeatureMap):
    """``phi(x) = elu(x) + 1`` (Katharopoulos et al., 2020), positive.

    Examples
    --------
    >>> import numpy as np
    >>> EluFeatures()(np.array([[-1.0, 0.0, 2.0]]), True).round(3).tolist()
    [[0.368, 1.0, 3.0]]
    """

    def __call__(self, X, is_query: bool):
        xp = array_namespace(X)
        return xp.where(X > 0, X + 1, xp.exp(xp.minimum(X, xp.zeros_like(X))))


class CosformerFeatures(FeatureMap):
    """cosFormer features ``[relu(x_i) cos(pi i / 2M), relu(x_i) sin(pi i / 2M)]``.

    Then ``phi(q_i).phi(k_j) = relu(q_i).relu(k_j) cos(pi (i - j) / (2M))``, a
    non-negative locality reweighting for ``|i - j| <= M``.

    Parameters
    ----------
    M : int, optional
        Position scale; default the sequence length of the input (use
        ``max(n_q, n_k)`` for cross attention, as :func:`cosformer_attention`
        does).
    """

    def __init__(self, M=None):
        self.M = None if M is None else check_int(M, "M", minimum=1)

    def __call__(self, X, is_query: bool):
        xp = array_namespace(X)
        n = int(X.shape[-2])
        M = n if self.M is None else self.M
        ang = xp.astype(xp.arange(n), X.dtype) * (math.pi / (2 * M))
        R = xp.maximum(X, xp.zeros_like(X))
        return xp.concat([R * xp.cos(ang)[:, None], R * xp.sin(ang)[:, None]], axis=-1)


def _normalize(xp, num, den, eps):
    den = den[..., None]
    small = xp.abs(den) <= eps
    return num / xp.where(small, xp.full_like(den, eps if eps > 0 else 1.0), den)


def _causal_products(xp, FQ, FK, V, chunk):
    """Causal ``(tril(FQ FK^T) V, tril(FQ FK^T) 1)`` by chunked prefix sums."""
    n = int(FQ.shape[-2])
    state = None  # running sum_j phi(k_j) v_j^T, shape (..., m, d_v)
    zstate = None  # running sum_j phi(k_j), shape (..., m)
    nums, dens = [], []
    for c0 in range(0, n, chunk):
        c1 = min(c0 + chunk, n)
        fq, fk, v = FQ[..., c0:c1, :], FK[..., c0:c1, :], V[..., c0:c1, :]
        L = matmul_t(xp, fq, fk)
        L = xp.where(causal_mask(xp, c1 - c0, c1 - c0), L, xp.zeros_like(L))
        num, den = xp.matmul(L, v), xp.sum(L, axis=-1)
        if state is not None:
            num = num + xp.matmul(fq, state)
            den = den + xp.sum(fq * zstate[..., None, :], axis=-1)
        kv, kz = xp.matmul(xp.matrix_transpose(fk), v), xp.sum(fk, axis=-2)
        state = kv if state is None else state + kv
        zstate = kz if zstate is None else zstate + kz
        nums.append(num)
        dens.append(den)
    return xp.concat(nums, axis=-2), xp.concat(dens, axis=-1)


def kernel_attention(Q, K, V, feature_map, causal=False, eps=None, chunk_size=128):
    """Linearised attention ``phi(Q) (phi(K)^T V) / (phi(Q) phi(K)^T 1)``.

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    V : array of shape (..., n_k, d_v)
    feature_map : FeatureMap or callable ``(X, is_query) -> (..., n, m)``
    causal : bool
        Query ``i`` uses keys ``j <= i`` (needs ``n_q == n_k``), via chunked
        prefix sums.
    eps : float, optional
        Normalisers with ``|D_i| <= eps`` are replaced by ``eps`` (default
        ``1e3 * smallest_normal`` of the dtype: only exact underflow is guarded).
    chunk_size : int
        Chunk length of the causal prefix sums.

    Returns
    -------
    array of shape (..., n_q, d_v)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = rng.standard_normal((3, 6, 2))
    >>> Y = kernel_attention(Q, K, V, EluFeatures(), causal=True)
    >>> bool(np.allclose(Y[0], V[0]))
    True
    """
    t = check_qkv(Q, K, V, causal=causal)
    if not callable(feature_map):
        raise TypeError(f"feature_map must be a FeatureMap or callable, got {type(feature_map).__name__}")
    chunk = check_int(chunk_size, "chunk_size", minimum=1)
    xp = t.xp
    eps = 1e3 * float(xp.finfo(t.dtype).smallest_normal) if eps is None else float(eps)
    if not eps >= 0:
        raise ValueError(f"eps must be non-negative, got {eps}")
    FQ, FK = feature_map(t.Q, is_query=True), feature_map(t.K, is_query=False)
    if causal:
        num, den = _causal_products(xp, FQ, FK, t.V, chunk)
    else:
        num = xp.matmul(FQ, xp.matmul(xp.matrix_transpose(FK), t.V))
        den = xp.sum(FQ * xp.sum(FK, axis=-2)[..., None, :], axis=-1)
    return _normalize(xp, num, den, eps)


def _scaled_kernel_attention(t, fmap, causal):
    """:func:`kernel_attention` on ``sqrt(scale) Q``, ``sqrt(scale) K`` of checked inputs ``t``."""
    r = math.sqrt(t.scale)
    return kernel_attention(t.Q * r, t.K * r, t.V, fmap, causal=causal)


def performer_attention(Q, K, V, num_features, orthogonal=True, causal=False, rng=None, scale=None):
    """Performer (FAVOR+) approximation of softmax attention.

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    num_features : int
        Number of positive random features ``m``.
    orthogonal : bool
        Block-orthogonal random features.
    causal : bool
    rng : None, int or Generator
    scale : float, optional
        Logit scale, default ``1/sqrt(d)``; ``Q`` and ``K`` are multiplied by
        ``sqrt(scale)`` so the features estimate ``exp(scale q.k)``.

    Returns
    -------
    array of shape (..., n_q, d_v)

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = rng.standard_normal((3, 32, 8)) * 0.5
    >>> Y = performer_attention(Q, K, V, 512, rng=1)
    >>> err = np.linalg.norm(Y - softmax_attention(Q, K, V)) / np.linalg.norm(softmax_attention(Q, K, V))
    >>> bool(err < 0.2)
    True
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    fmap = PositiveRandomFeatures(t.d, num_features, orthogonal=orthogonal, rng=rng)
    return _scaled_kernel_attention(t, fmap, causal)


def random_feature_attention(
    Q, K, V, num_features, causal=False, rng=None, scale=None, normalize=False, orthogonal=True
):
    """Random feature attention (RFA) with trigonometric features.

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    num_features : int
        Number of random frequencies ``D`` (``2 D`` features).
    causal : bool
    rng : None, int or Generator
    scale : float, optional
        Default ``1/sqrt(d)``; inputs are multiplied by ``sqrt(scale)``.
    normalize : bool
        See :class:`TrigRandomFeatures`: False estimates softmax attention
        (unbiased kernel), True is the published RFA (unit-norm inputs).
    orthogonal : bool

    Returns
    -------
    array of shape (..., n_q, d_v)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = rng.standard_normal((3, 8, 4))
    >>> random_feature_attention(Q, K, V, 16, rng=0).shape
    (8, 4)
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    fmap = TrigRandomFeatures(t.d, num_features, orthogonal=orthogonal, rng=rng, normalize=normalize)
    return _scaled_kernel_attention(t, fmap, causal)


def linear_attention(Q, K, V, causal=False):
    """Linear attention with ``phi = elu + 1`` (no logit scale).

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 5, 2))
    >>> linear_attention(Q, K, V, causal=True).shape
    (5, 2)
    """
    return kernel_attention(Q, K, V, EluFeatures(), causal=causal)


def cosformer_attention(Q, K, V, causal=False):
    """cosFormer attention: relu features with cos/sin positional reweighting.

    Position scale ``M = max(n_q, n_k)``.  Rows whose normaliser is zero
    (all-negative queries) return zeros.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 5, 2))
    >>> cosformer_attention(Q, K, V).shape
    (5, 2)
    """
    t = check_qkv(Q, K, V, causal=causal)
    return kernel_attention(t.Q, t.K, t.V, CosformerFeatures(max(t.n_q, t.n_k)), causal=causal)
