"""Randomized sketching: test matrices, range finder, randomized SVD/eigh, Nyström,
stochastic trace estimation and stochastic Lanczos quadrature."""

from .nystrom import NystromResult, nystrom
from .random import (
    SKETCH_KINDS,
    gaussian_matrix,
    hartley_transform,
    orthogonal_matrix,
    rademacher_matrix,
    sketch_matrix,
    srht_matrix,
    srht_sketch,
)
from .rangefinder import range_finder
from .rsvd import EighResult, SVDResult, randomized_eigh, randomized_svd
from .slq import SLQQuadrature, SLQResult, slq, slq_logdet, slq_quadrature
from .trace import TRACE_DISTRIBUTIONS, TraceEstimate, hutchinson, hutchpp, xnystrace, xtrace

__all__ = [
    "SKETCH_KINDS",
    "gaussian_matrix",
    "rademacher_matrix",
    "orthogonal_matrix",
    "srht_matrix",
    "srht_sketch",
    "hartley_transform",
    "sketch_matrix",
    "range_finder",
    "randomized_svd",
    "randomized_eigh",
    "SVDResult",
    "EighResult",
    "nystrom",
    "NystromResult",
    "TraceEstimate",
    "TRACE_DISTRIBUTIONS",
    "hutchinson",
    "hutchpp",
    "xtrace",
    "xnystrace",
    "slq",
    "slq_logdet",
    "slq_quadrature",
    "SLQResult",
    "SLQQuadrature",
]
