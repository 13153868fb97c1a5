"""Where the certified bounds of the augmented Krylov objective are loose at small lam (issue 9, item 1).

For each case (kernel, N, n, SNR, input; the data of ``benchmarks/certification.py``) the hyperparameters
are fitted once; then the pure Krylov estimator of the R-factor dual, with the square-root rounding model
attached from the first block, is grown one block at a time, and after every block the ``F`` bounds of 30
scales ``c`` in ``c_ML * [1e-2, 1e2]`` are formed.  Reported per variant: the *certification dimension*
(the smallest subspace dimension at which all 30 values meet ``rtol = 1e-8``; "-" when only the complete
space does, i.e. it equals ``n``):

* ``trace difference`` -- the remainder ``tr A - ||B^T Q||_F^2`` and the recurrence residual (the bounds
  of the previous release; ``augmented.DEFLATED_TAIL_MAX_ENTRIES = 0``);
* ``deflated`` -- remainder and residual from the deflated factor ``P = B - Q Q^T B``
  (:meth:`krylovid.sysid.AugmentedKrylov.deflated_tail`), the log-det gap of the unexplored part from its
  trace alone (Jensen);
* ``library`` -- ``deflated`` plus the second moment ``||P^T P||_F`` of the unexplored part (a quadratic
  minorant of ``log(1 + x / lam)`` for the lower bound, the variance term off the Jensen upper bound);
* oracles -- the dimension at which the library's bounds would certify if the data-fit width were zero
  ("q exact": the most that Gauss-Radau quadrature, or any tighter data-fit bound, could give) or the
  log-det width were zero ("l exact");
* the random block -- certification dimension and matrix-vector products (library bounds) for Gaussian
  blocks of 4, 8 (default), 16 and 32 columns and a Rademacher block of 8, and the median CPU time of the
  library's whole pure-Krylov evaluation (``evaluate_objective(..., method="krylov", fallback_max_n=0,
  block_size=s)``) for the Gaussian sizes.

Run ``python benchmarks/bound_study.py`` (``--quick``: the N = 3000 cases only; ``--no-write`` prints
only).  Writes the ``bound-study`` section of ``RESULTS.md`` and ``figures/bound_study.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _results import write_section  # noqa: E402
from certification import Case, make_data  # noqa: E402

from krylovid.sysid import FIRProblem, KernelFIR, augmented, evaluate_objective  # noqa: E402
from krylovid.sysid.evaluators import make_evaluator  # noqa: E402
from krylovid.sysid.objective import F_bounds, resolve_noise_variance  # noqa: E402

RTOL = 1e-8
N_VALUES = 30
CASES = [Case(k, 3000, 300, 1e4, inp) for k in ("TC", "DC", "SS", "SE") for inp in ("white", "lowpass")]
LARGE = [Case("DC", 10000, 1000, 1e4, "white"), Case("TC", 10000, 1000, 1e4, "lowpass")]
BLOCKS = (4, 8, 16, 32)


class Study:
    """One case: data, fitted hyperparameters, exact F at the 30 scales."""

    def __init__(self, case: Case):
        self.case = case
        u, y = make_data(case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            hp = dict(KernelFIR(order=case.n, kernel=case.kernel, random_state=0).fit(u, y).hyperparameters_)
        self.u, self.y, self.hp = u, y, {k: float(v) for k, v in hp.items()}
        self.p = FIRProblem(u, y, case.n, kernel=case.kernel)
        self.sigma2 = resolve_noise_variance("ls", self.p)
        self.lam = self.sigma2 / (self.hp["c"] * np.logspace(-2, 2, N_VALUES))
        self.params = self.p.shape_params(self.hp)
        ex = make_evaluator("qr", self.p).prepare(self.params).bounds(self.lam)
        self.F = F_bounds(ex, self.p.N, self.sigma2)[0]

    def state(self, block_size=8, omega=None):
        """A Krylov state of the whole R-factor dual with the square-root model attached from the start."""
        st = make_evaluator("krylov", self.p, random_state=0, block_size=block_size, truncate=False).prepare(
            self.params
        )
        if omega is not None:
            old = st.est
            st.est = augmented.AugmentedKrylov(
                old.A, old.b, trace=old.trace, Omega=omega, deflation_tol=old.deflation_tol
            )
            st.est.extend(2)
        st._attach_factor(st.est)
        return st

    def widths(self, st):
        """Per value: ``(F_lower, F_upper, data-fit part of the width, log-det part of the width)``."""
        b = st.bounds(self.lam)
        lo, hi, c = F_bounds(b, self.p.N, self.sigma2)
        return lo, hi, (b.q_upper - b.q_lower) / c, b.l_upper - b.l_lower

    def _certified(self, lo, hi):
        return (hi - lo) <= RTOL * np.maximum(np.abs(0.5 * (lo + hi)), 1.0)

    def certification_dim(self, st):
        """Grow block by block until every value certifies.  Returns a dict: ``dim`` (None: not even the
        complete space), ``matvecs``, ``dim_q_exact`` / ``dim_l_exact`` (where it would certify if the data-fit
        / log-det width were zero: what any tightening of that term alone could reach) and ``wrong`` (values
        whose bounds missed the exact F at any dimension)."""
        out = {"dim": None, "dim_q_exact": None, "dim_l_exact": None, "wrong": 0}
        scale = RTOL * np.maximum(np.abs(self.F), 1.0)
        while True:
            lo, hi, q_w, l_w = self.widths(st)
            slack = 1e-10 * np.abs(self.F)
            out["wrong"] = max(out["wrong"], int(np.sum((lo > self.F + slack) | (hi < self.F - slack))))
            d = st.est.dim
            if out["dim_q_exact"] is None and np.all(l_w <= scale):
                out["dim_q_exact"] = d
            if out["dim_l_exact"] is None and np.all(q_w <= scale):
                out["dim_l_exact"] = d
            if np.all(self._certified(lo, hi)):
                out["dim"] = d
                break
            if st.est.exhausted:
                break
            st.est.extend(1)
        out["matvecs"] = st.est.matvecs
        return out


def run_case(case: Case, repeats: int) -> dict:
    t0 = time.perf_counter()
    s = Study(case)
    row = {"case": case.key, "n": case.n, "hp": s.hp}
    row["trace"] = _previous_bounds(lambda: s.certification_dim(s.state()))
    row["deflated"] = _first_moment_only(lambda: s.certification_dim(s.state()))
    row["library"] = s.certification_dim(s.state())
    wrong = sum(row[k]["wrong"] for k in ("trace", "deflated", "library"))
    blocks = {}
    for bs in BLOCKS:
        res = s.certification_dim(s.state(block_size=bs))
        times = []
        for _ in range(repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                c0 = time.process_time()
                evaluate_objective(
                    s.u,
                    s.y,
                    order=case.n,
                    kernel=case.kernel,
                    hyperparameters=dict(s.hp, c=s.hp["c"] * np.logspace(-2, 2, N_VALUES)),
                    method="krylov",
                    fallback_max_n=0,
                    random_state=0,
                    block_size=bs,
                )
                times.append(time.process_time() - c0)
        blocks[f"gauss{bs}"] = {"dim": res["dim"], "matvecs": res["matvecs"], "cpu_s": float(np.median(times))}
        wrong += res["wrong"]
    rng = np.random.default_rng(0)
    omega = rng.choice([-1.0, 1.0], size=(case.n, 8))
    res = s.certification_dim(s.state(omega=s.p.xp.asarray(omega)))
    blocks["rademacher8"] = {"dim": res["dim"], "matvecs": res["matvecs"], "cpu_s": None}
    row["wrong"] = wrong + res["wrong"]
    row["blocks"] = blocks
    row["wall_s"] = time.perf_counter() - t0
    return row


def _previous_bounds(fn):
    """``fn()`` with the deflated remainder, residual and second moment switched off (the previous bounds)."""
    saved = augmented.DEFLATED_TAIL_MAX_ENTRIES
    augmented.DEFLATED_TAIL_MAX_ENTRIES = 0
    try:
        return fn()
    finally:
        augmented.DEFLATED_TAIL_MAX_ENTRIES = saved


def _first_moment_only(fn):
    """``fn()`` with the second-moment terms of the unexplored part switched off."""
    saved = augmented.AugmentedKrylov._second_moment_terms
    augmented.AugmentedKrylov._second_moment_terms = lambda self, lam, *a: (np.zeros_like(lam), np.zeros_like(lam))
    try:
        return fn()
    finally:
        augmented.AugmentedKrylov._second_moment_terms = saved


def render(rows, command) -> str:
    def dim(d):
        return "-" if d is None else str(d)

    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, NumPy "
        f"{np.__version__}, one BLAS thread.  Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.  "
        f"Command: `{command}`.",
        "",
        "Certification dimension: the smallest subspace dimension at which all 30 values of c in "
        "c_ML * [1e-2, 1e2] meet rtol 1e-8, square-root model from the first block (the evaluator attaches "
        "it later, see `FACTOR_ATTACH_FRACTION`); '-': not even the complete space.  Bounds: 'trace "
        "difference' = the previous release (remainder tr A - ||B^T Q||_F^2, recurrence residual); "
        "'deflated' = remainder and residual from P = B - Q Q^T B; 'library' = deflated plus the second "
        "moment ||P^T P||_F of the unexplored part.  Oracles of the library bounds: the dimension at which "
        "they would certify if the data-fit width ('q exact': what Gauss-Radau or any data-fit bound could "
        "reach at best) or the log-det width ('l exact') were zero.  'wrong': values whose bounds missed the "
        "exact QR value, any variant, any dimension (must be 0).",
        "",
        "| case | n | trace difference | deflated | library | oracle: q exact | oracle: l exact | wrong |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lib = r["library"]
        lines.append(
            f"| {r['case']} | {r['n']} | {dim(r['trace']['dim'])} | {dim(r['deflated']['dim'])} | "
            f"{dim(lib['dim'])} | {dim(lib['dim_q_exact'])} | {dim(lib['dim_l_exact'])} | {r['wrong']} |"
        )
    names = [f"gauss{b}" for b in BLOCKS] + ["rademacher8"]
    lines += [
        "",
        "The random block (library bounds): certification dimension / matvecs / median CPU seconds of the "
        "library's pure-Krylov evaluation of the 30 values with that block size (n/a: not an option of the "
        "library).",
        "",
        "| case | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for r in rows:
        cells = []
        for k in names:
            b = r["blocks"][k]
            t = "n/a" if b["cpu_s"] is None else f"{b['cpu_s']:.3f}"
            cells.append(f"{dim(b['dim'])} / {b['matvecs']} / {t}")
        lines.append(f"| {r['case']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the N = 3000 cases only")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    command = "python benchmarks/bound_study.py" + (" --quick" if args.quick else "")
    rows = []
    with threadpool_limits(1):
        for case in CASES + ([] if args.quick else LARGE):
            rows.append(run_case(case, args.repeats))
            print(json.dumps(rows[-1]), flush=True)
    text = render(rows, command)
    print(text)
    if not args.no_write:
        (HERE / "figures" / "bound_study.json").write_text(json.dumps({"command": command, "rows": rows}, indent=1))
        write_section(
            text,
            begin="<!-- bound-study:begin -->",
            end="<!-- bound-study:end -->",
            heading="## Where the certified bounds are loose (issue 9, item 1 study)",
        )
    return 0 if all(r["wrong"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
