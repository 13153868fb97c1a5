"""``KernelFIR``: kernel-regularized FIR identification, scikit-learn style."""

from __future__ import annotations

import inspect
import logging
import numbers
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..backend import to_numpy
from .data import DETREND_MODES, DataWarning, check_noise_dof, prepare_records
from .experiments import JointProblem
from .fitted import FittedFIR
from .kernels import BlockDiagonalKernel, get_kernel
from .objective import METHODS, F_bounds, make_evaluator, resolve_noise_variance
from .priors import PerInputKernel, tune_per_input
from .problem import FIRProblem
from .structure import DEFAULT_MAX_DELAY, candidate_orders, decay_check, parse_candidates, select_structure
from .tuning import tune

__all__ = ["KernelFIR", "LamCurve"]

logger = logging.getLogger("krylovid")


@dataclass(frozen=True)
class LamCurve:
    """The objective along ``lam = sigma2 / c`` at the fitted shape parameters.

    Attributes
    ----------
    lam, c : ndarray of shape (k,)
    F_lower, F_upper : ndarray of shape (k,)
        Bounds from the fitted method (equal for exact methods).
    F_exact : ndarray of shape (k,) or None
        The Cholesky/QR value when requested.
    """

    lam: np.ndarray
    c: np.ndarray
    F_lower: np.ndarray
    F_upper: np.ndarray
    F_exact: np.ndarray | None


class KernelFIR(FittedFIR):
    """Kernel-regularized FIR model with hyperparameters tuned by marginal likelihood.

    Parameters
    ----------
    order : int, "auto" or sequence of int
        Number of FIR coefficients per input; ``"auto"`` (or a list of
        candidates) chooses it by marginal likelihood (see
        :mod:`~krylovid.sysid.structure`; the choice is ``order_``).
    kernel : {"TC", "DC", "SS", "SE", "HF", "DI", "CS"} or Kernel
        Prior covariance family of every input.
    method : {"auto", "spectral", "krylov", "qr", "cholesky", "lanczos"}
        Evaluator of the objective: ``"auto"`` (default) picks the fastest
        certified one for the problem (``info_["method"]`` says which): the
        exact spectral path (one SVD per shape) for ``n <= 4000``, the
        augmented Krylov estimator above; or Chen–Ljung QR, dense Cholesky,
        separate Lanczos + SLQ by name.
    noise_variance : "ls", "ml" or float
        ``"ls"``: fixed to the residual variance of the least-squares FIR of
        the same order (as MATLAB and Chen–Ljung); ``"ml"``: estimated jointly;
        a number: fixed.
    delay : int, "auto" or sequence of int
        Input delay (``0``: feedthrough); ``"auto"`` compares ``0..10`` by
        marginal likelihood (the choice is ``delay_``).
    initial : {"zero", "drop"}
        Zero past input, or drop the first outputs.
    detrend : {"none", "constant", "linear"}
        Preprocessing of each record: nothing (default, as MATLAB's
        ``impulseest``: the FIR has no constant term, so data recorded around
        an operating point must be detrended), the means, or the
        least-squares lines.  With ``"none"`` a :class:`DataWarning` names
        the signals whose means are significant and says what to do.
    sample_time : float, optional
        Sampling interval ``T`` (seconds): time axes, frequencies in rad/s and
        exports use it; without it everything is per sample (``T = 1``).
    prior : {"per_input", "shared"}
        Several inputs: each its own scale and shape (default) or one
        ``(c, shape)`` for all (MATLAB's single kernel).
    random_state : None, int or Generator
        Seeds the random block of the Krylov methods (results are
        reproducible for a fixed value).
    tol : float
        Relative tolerance of the Krylov bounds on the objective.
    progress : None, bool or callable
        ``True`` shows a progress bar on a terminal; a callable is called as
        ``progress(k, params, F)`` after each shape-parameter evaluation.
    verbose : bool
        Log subspace dimensions and bounds to the ``"krylovid"`` logger.
    method_options : dict, optional
        Extra evaluator options (e.g. ``{"formulation": "dual", "block_size": 8}``).
    dtype : {"float64", "float32"}
        Working precision of the data and the FFT products (single record).
        float64 (default) on every backend, float32 input included;
        ``"float32"`` only on request, with a
        :class:`~krylovid.sysid.problem.PrecisionWarning` (measured on the CPU with
        ``python benchmarks/gpu_check.py --float32-accuracy``: ``F`` within 1e-8
        relative of float64 for white inputs and 2e-7 for a low-pass one, the
        impulse response within 2e-6 of its peak; no guarantee for worse
        conditioned inputs).

    Attributes
    ----------
    order_, delay_ : int
        Order and delay used (chosen from the data when ``"auto"``).
    structure_ : StructureSelection or None
        Candidates and their objectives when the order or delay was chosen.
    impulse_response_ : ndarray of shape (order_,) or (m, order_)
        Posterior mean; coefficient ``k`` multiplies ``u(t - delay_ - k)``.
    impulse_response_std_ : ndarray, same shape
        Posterior standard deviation.
    posterior_covariance_ : ndarray of shape (m order_, m order_)
        Full posterior covariance of the stacked coefficients (computed on first use).
    hyperparameters_ : dict
        ``{"c": ..., **shape}`` of the prior over all coefficients (per-input
        priors: ``beta_0, beta_1, ..., scale_1, ...``).
    input_hyperparameters_ : list of dict
        ``{"c": ..., **shape}`` of each input's prior.
    input_offset_ : ndarray of shape (m,)
    output_offset_ : float
        Means removed by ``detrend`` (zeros for ``"none"``); :meth:`predict`
        adds them back.
    sample_time_ : float or None
    noise_variance_ : float
    objective_ : float
        ``F`` at the optimum.
    info_ : dict
        ``method``, ``subspace_dim``, ``matvecs``, ``F_lower``, ``F_upper``,
        ``wall_time_s``, ``status``, ``certified``, ``n_evaluations``,
        ``n_shift_evaluations``, ``history``.  ``certified`` is True when the
        reported ``F`` is exact or its bounds meet ``tol`` (``status``
        ``"exact"`` / ``"converged"``); ``"budget"``: reported with wider
        bounds; ``"statistical"``: the ``"lanczos"`` baseline (never certified).
    convergence_ : list of (int, float, float)
        ``(dim, F_lower, F_upper)`` at the optimum as the Krylov space grew.

    Notes
    -----
    **Array namespaces (GPU).**  ``u`` and ``y`` may be CuPy arrays (or any
    array-API arrays, e.g. ``array_api_strict``): for a single record the
    regressor FFTs, the Gram matrix, the R factor, the kernel products, the
    SVDs / Krylov spaces and the posterior are computed in that namespace, and
    only scalars, bounds and the small projected matrices (block tridiagonal
    ``T``, singular values) come to the host during the tuning.  The fitted
    attributes are host values whatever the input: NumPy arrays
    (``impulse_response_``, ``impulse_response_std_``, ``posterior_covariance_``,
    ``input_offset_``) and Python floats (hyperparameters, objective, noise
    variance), so plotting, saving and exporting work unchanged;
    :meth:`predict` returns an array of the namespace of its input.  Several
    experiments and the per-input prior of several inputs run with NumPy.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid import KernelFIR
    >>> rng = np.random.default_rng(0)
    >>> g0 = 0.8 ** np.arange(1, 41) * np.cos(0.3 * np.arange(40))
    >>> u = rng.standard_normal(500)
    >>> y = np.convolve(u, np.r_[0.0, g0])[:500] + 0.05 * rng.standard_normal(500)
    >>> model = KernelFIR(order=40, kernel="TC", random_state=0).fit(u, y)
    >>> bool(100 * (1 - np.linalg.norm(model.impulse_response_ - g0) / np.linalg.norm(g0 - g0.mean())) > 90)
    True
    """

    def __init__(
        self,
        order,
        kernel="TC",
        method="auto",
        noise_variance="ls",
        delay=1,
        initial="zero",
        random_state=None,
        tol=1e-8,
        progress=None,
        verbose=False,
        method_options=None,
        detrend="none",
        sample_time=None,
        prior="per_input",
        dtype="float64",
    ):
        self.order = order
        self.detrend = detrend
        self.sample_time = sample_time
        self.prior = prior
        self.kernel = kernel
        self.method = method
        self.noise_variance = noise_variance
        self.delay = delay
        self.initial = initial
        self.random_state = random_state
        self.tol = tol
        self.progress = progress
        self.verbose = verbose
        self.method_options = method_options
        self.dtype = dtype

    # ------------------------------------------------------------------ sklearn API
    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments as a dict (scikit-learn convention)."""
        return {k: getattr(self, k) for k in self._get_param_names()}

    def set_params(self, **params) -> KernelFIR:
        """Set constructor arguments (scikit-learn convention)."""
        valid = set(self._get_param_names())
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"invalid parameter {k!r} for KernelFIR; valid: {sorted(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return f"KernelFIR(order={self.order!r}, kernel={self.kernel!r}, method={self.method!r})"

    # ------------------------------------------------------------------ fitting
    def _progress_callback(self):
        if callable(self.progress):
            return self.progress, None
        if self.progress:
            from .._progress import progress_bar

            bar = progress_bar(None, desc=f"tuning ({self.method})", enabled=True)

            def cb(k, params, F):
                bar.update(1)
                bar.set_postfix_str(f"F={F:.6g}")

            return cb, bar
        return None, None

    def fit(self, u, y) -> KernelFIR:
        """Tune the hyperparameters on ``(u, y)`` and compute the posterior.

        Parameters
        ----------
        u : array of shape (N,) or (N, m), or list of such arrays
        y : array of shape (N,), or list of such arrays
            One record, or several experiments (lists of NumPy arrays of equal
            length per experiment): one model with the joint likelihood, each
            record with its own initial conditions and detrended on its own.

        Returns
        -------
        self
        """
        self._check_options()
        t0 = time.perf_counter()
        records = self._prepare_records(u, y)
        self.order_, self.delay_, self.structure_ = self._choose_structure(records)
        problem = self._problem(records, self.order_, self.delay_)
        sigma2 = self._noise(problem)
        callback, bar = self._progress_callback()
        try:
            result, state, evaluator = self._tune(problem, sigma2, callback)
        finally:
            if bar is not None:
                bar.close()
        self._set_posterior(problem, result, state)
        stats = state.stats()
        opt = result.optimum
        self.info_ = {
            "method": evaluator.method,
            "subspace_dim": int(stats.get("subspace_dim", 0)),
            "matvecs": int(stats.get("matvecs", 0)),
            "F_lower": float(opt.F_lower),
            "F_upper": float(opt.F_upper),
            "wall_time_s": time.perf_counter() - t0,
            "status": (
                "exact"
                if state.exact
                else "statistical"
                if evaluator.method == "lanczos"
                else "converged"
                if opt.certified
                else "budget"
            ),
            "certified": bool(state.exact or (opt.certified and evaluator.method != "lanczos")),
            "n_evaluations": result.n_evaluations,
            "n_shift_evaluations": result.n_shift_evaluations,
            "formulation": stats.get("formulation"),
            "posterior_exact": bool(self._posterior_exact),
            "n_experiments": len(records),
            "history": [(dict(p), float(F)) for p, F in result.history],
        }
        for i, r in decay_check(self.impulse_response_, self.impulse_response_std_):
            warnings.warn(
                f"the impulse response of input {i} has not decayed at order {self.order_}: "
                f"|g| over its last coefficients reaches {r:.2f} of its peak; increase order "
                "(or use order='auto')",
                DataWarning,
                stacklevel=2,
            )
        if self.verbose:
            logger.info(
                "KernelFIR(%s): F=%.10g in [%.10g, %.10g], dim=%d, matvecs=%d, %.3fs",
                self.method,
                opt.F,
                opt.F_lower,
                opt.F_upper,
                self.info_["subspace_dim"],
                self.info_["matvecs"],
                self.info_["wall_time_s"],
            )
        return self

    def _check_options(self):
        if not isinstance(self.method, str) or self.method.lower() not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        tol = float(self.tol)
        if not 0 < tol < 1:
            raise ValueError(f"tol must lie in (0, 1), got {self.tol!r}")
        if self.detrend not in DETREND_MODES:
            raise ValueError(f"detrend must be one of {list(DETREND_MODES)}, got {self.detrend!r}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        if self.prior not in ("per_input", "shared"):
            raise ValueError(f"prior must be 'per_input' or 'shared', got {self.prior!r}")
        T = self.sample_time
        if T is not None and (isinstance(T, bool) or not isinstance(T, numbers.Real) or not 0 < T < np.inf):
            raise ValueError(f"sample_time must be a positive number or None, got {T!r}")

    def _prepare_records(self, u, y) -> list:
        """Validate, detrend and offset-check the record(s) (:func:`~krylovid.sysid.data.prepare_records`)."""
        prep = prepare_records(u, y, self.detrend)
        self.input_offset_, self.output_offset_ = prep.input_offset, prep.output_offset
        self.n_inputs_ = prep.records[0][0].shape[1]
        self.sample_time_ = None if self.sample_time is None else float(self.sample_time)
        return prep.records

    def _choose_structure(self, records):
        """``(order, delay, StructureSelection or None)`` (see :mod:`~krylovid.sysid.structure`).

        Several inputs: the candidates are compared under the shared prior (one
        tuning of one or two shape parameters each); the per-input prior is tuned
        once, for the chosen structure.  The delay is common to all inputs.
        """
        N_min, m = min(r[0].shape[0] for r in records), records[0][0].shape[1]
        delays, auto_d = parse_candidates(self.delay, "delay", lambda: list(range(DEFAULT_MAX_DELAY + 1)))
        orders, auto_n = parse_candidates(
            self.order, "order", lambda: candidate_orders(N_min, m, max(delays), self.initial)
        )
        if not (auto_d or auto_n):
            return orders[0], delays[0], None

        def objective(recs, n, d, sigma2):
            problem = self._problem(recs, n, d, shared=True)  # candidates compared under the shared prior
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result, state, _ = self._tune(problem, sigma2, None)
            post = state.posterior(result.optimum.lam)
            g = np.reshape(to_numpy(post.mean), (m, n))
            var = to_numpy(post.variance_over_c)
            return result.optimum.F, g, np.reshape(np.sqrt(result.optimum.c * var), (m, n))

        def noise(recs, n, d):
            return self._noise(self._problem(recs, n, d, shared=True))

        sel = select_structure(
            objective,
            noise,
            records,
            orders,
            delays,
            initial=self.initial,
            screen_delays=auto_d and isinstance(self.delay, str),
        )
        return sel.order, sel.delay, sel

    def _problem(self, records, order, delay, shared: bool = False):
        m = records[0][0].shape[1]
        per_input = m > 1 and self.prior == "per_input" and not shared
        if len(records) == 1 and not per_input:
            return FIRProblem(
                records[0][0],
                records[0][1],
                order,
                kernel=self.kernel,
                delay=delay,
                initial=self.initial,
                dtype=self.dtype,
            )
        records = [(to_numpy(u), to_numpy(y)) for u, y in records]  # the joint problem runs with NumPy
        base = get_kernel(self.kernel)
        kernel = PerInputKernel(base, m) if per_input else (base if m == 1 else BlockDiagonalKernel(base, m))
        return JointProblem(records, order, kernel, delay=delay, initial=self.initial)

    def _noise(self, problem):
        """The noise variance as configured (``None`` when estimated); ``"ls"`` checks the record length."""
        mode = self.noise_variance.lower() if isinstance(self.noise_variance, str) else None
        if mode == "ls":
            check_noise_dof(
                problem.N,
                problem.n,
                N=problem.N,
                order=problem.order,
                num_inputs=problem.num_inputs,
                delay=problem.delay,
                initial=problem.initial,
            )
        return resolve_noise_variance(self.noise_variance, problem)

    def _tune(self, problem, sigma2, callback):
        evaluator = make_evaluator(self.method, problem, random_state=self.random_state, **(self.method_options or {}))
        if isinstance(problem.kernel, PerInputKernel):
            result, state = tune_per_input(evaluator, problem, sigma2, rtol=float(self.tol), progress=callback)
        else:
            result, state = tune(evaluator, problem, sigma2, rtol=float(self.tol), progress=callback)
        return result, state, evaluator

    def _set_posterior(self, problem, result, state):
        opt = result.optimum
        post = state.posterior(opt.lam)
        m, n = problem.num_inputs, problem.order
        shape = (n,) if m == 1 else (m, n)
        # the posterior (length m n) comes to the host once: fitted attributes are NumPy arrays and floats
        self.impulse_response_ = np.reshape(to_numpy(post.mean), shape)
        self.impulse_response_std_ = np.reshape(np.sqrt(opt.c * to_numpy(post.variance_over_c)), shape)
        self.hyperparameters_ = {"c": float(opt.c), **result.params}
        if isinstance(problem.kernel, PerInputKernel):
            self.input_hyperparameters_ = [
                {"c": float(opt.c) * s, **th} for s, th in problem.kernel.input_params(result.params)
            ]
        else:
            self.input_hyperparameters_ = [dict(self.hyperparameters_) for _ in range(m)]
        self.noise_variance_ = float(result.noise_variance)
        self.objective_ = float(opt.F)
        self._posterior_exact = bool(post.exact)
        self._shape_params = dict(result.params)
        self._problem_meta = (problem.N, self._sigma2_mode(result))
        self._state, self._problem, self._convergence, self._covariance = state, problem, None, None

    def _sigma2_mode(self, result):
        """The ``sigma2`` argument of the objective: ``None`` when the noise variance was estimated."""
        mode = self.noise_variance.lower() if isinstance(self.noise_variance, str) else None
        return None if mode == "ml" else float(result.noise_variance)

    @property
    def convergence_(self) -> list:
        """``(dim, F_lower, F_upper)`` at the optimum as the Krylov space grows ([] for exact methods).

        Computed on first access by rebuilding the optimal subspace block by
        block with the same random block (common random numbers).
        """
        self._check_fitted()
        self._check_state("convergence_")
        if self._convergence is None:
            hist = getattr(self._state, "bound_history", None)
            N, sigma2 = self._problem_meta
            lam = np.array([self.noise_variance_ / self.hyperparameters_["c"]])
            self._convergence = (
                []
                if hist is None
                else [
                    (d, float(F_bounds(b, N, sigma2)[0][0]), float(F_bounds(b, N, sigma2)[1][0])) for d, b in hist(lam)
                ]
            )
        return self._convergence

    def lam_curve(self, num: int = 100, exact: bool = False, span: float = 3.0) -> LamCurve:
        """The objective along ``lam`` around the optimum (``10^-span .. 10^span`` times ``lam*``).

        With ``exact=True`` the Cholesky (small ``N``) or QR value is added.
        """
        self._check_fitted()
        self._check_state("lam_curve")
        N, sigma2 = self._problem_meta
        lam_opt = self.noise_variance_ / self.hyperparameters_["c"]
        lam = lam_opt * np.logspace(-span, span, int(num))
        lo, hi, c = F_bounds(self._state.bounds(lam), N, sigma2)
        F_exact = None
        if exact:
            ref = make_evaluator("cholesky" if N <= 3000 else "qr", self._problem)
            ex = ref.prepare(self._shape_params).bounds(lam)
            F_exact = F_bounds(ex, N, sigma2)[0]
        return LamCurve(lam, c, lo, hi, F_exact)
