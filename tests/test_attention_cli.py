"""``krylovid attention compare`` flags a method whose relative error exceeds 1 (worse than a zero output)."""

import numpy as np

from krylovid.cli import main


def test_compare_flags_worse_than_zero(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n, d = 64, 16
    Q, K = 3.0 * rng.standard_normal((2, n, d))  # sharp head: a 4-column Linformer sketch is poor
    V = rng.standard_normal((n, d))
    path = tmp_path / "qkv.npz"
    np.savez(path, Q=Q, K=K, V=V)
    code = main(["attention", "compare", "--npz", str(path), "--m", "4", "--methods", "linformer,truncated_svd"])
    out, _ = capsys.readouterr()
    assert code == 0
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.split()}
    # independent dense reference for the reported errors
    S = Q @ K.T / np.sqrt(d)
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    U, s, Vt = np.linalg.svd(P)
    e_svd = np.linalg.norm((U[:, :4] * s[:4]) @ Vt[:4] @ V - P @ V) / np.linalg.norm(P @ V)
    assert abs(float(rows["truncated_svd"].split()[1]) - e_svd) < 1e-5
    e_lin = float(rows["linformer"].split()[1])
    assert e_lin > 1.0 and "WORSE THAN ZERO" in rows["linformer"]
    assert e_svd < 1.0 and "WORSE THAN ZERO" not in rows["truncated_svd"]
    assert "note: linformer: relative error above 1" in out
