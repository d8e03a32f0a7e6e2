"""Paired comparison of two systems over the same queries: the difference, its bootstrap interval, two
significance tests, Holm's correction, and the smallest effect the comparison could detect.

The statistics are scipy's and statsmodels': ``scipy.stats.bootstrap`` (BCa, resampling queries),
``scipy.stats.permutation_test`` with ``permutation_type="samples"`` (the paired randomization test IR uses,
Smucker et al. 2007: each query's two scores swapped at random; exact when the swaps can be enumerated),
``scipy.stats.ttest_rel`` (paired t-test), ``statsmodels.stats.multitest.multipletests(method="holm")``, and
the normal quantiles for power. ``tests/test_stats.py`` checks them against ranx's Fisher randomization test,
statsmodels' one-sample t-test of the differences, and an exact enumeration.

Seeds: when a system ran with several training seeds, its per-query score is the mean over its runs, the
tests are paired over queries on those means, and the spread of the runs' means (their standard deviation) is
reported beside it and counted in the smallest detectable effect, which then covers both what the test set
and what training randomness can move:

    MDE = (z_{1 - alpha/2} + z_{power}) x sqrt(var(d) / n + sd_a^2 / k_a + sd_b^2 / k_b)

with ``d`` the per-query differences of the seed means, ``n`` queries, ``sd`` the between-seed standard
deviation of a system's mean score and ``k`` its number of seeds. It is conservative: the per-query part of
the seed noise is in ``var(d)`` and again in ``sd^2 / k``. With one seed per system the seed term is unknown
from the comparison itself; ``seed_sd`` passes one measured elsewhere.

Example:
    >>> import numpy as np
    >>> a = np.array([0.5, 0.7, 0.2, 0.9, 0.4, 0.6]); b = a - np.array([0.1, 0.0, 0.1, 0.2, 0.0, 0.1])
    >>> r = paired(a, b, seed=1)
    >>> round(r.diff, 4), r.n, r.differing, round(r.p_randomization, 4)
    (0.0833, 6, 4, 0.125)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

ALPHA = 0.05
POWER = 0.8
RESAMPLES = 10000


@dataclass(frozen=True)
class Paired:
    """``a`` against ``b`` over ``n`` queries: ``diff`` is mean(a - b)."""

    n: int
    differing: int  # queries whose two scores differ: what the interval and the tests really rest on
    diff: float
    ci_low: float
    ci_high: float
    p_randomization: float
    p_ttest: float
    sd_diff: float  # standard deviation of the per-query differences
    mde: float | None  # the smallest |diff| detected with POWER at ALPHA; None when the seed term is unknown

    def as_dict(self) -> dict:
        return asdict(self)


def _mean_diff(a, b, axis=-1):
    return np.mean(a - b, axis=axis)


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    """``z_{1 - alpha/2} + z_{power}``: 2.80 for a two-sided 5% test at 80% power."""
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2) + norm.ppf(power))


def mde(sd_diff: float, n: int, seed_var: float = 0.0, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true difference detected with probability ``power`` by a two-sided test at ``alpha``:
    ``z_sum x sqrt(sd_diff^2 / n + seed_var)``, ``seed_var`` the variance training seeds add to the difference
    of the two means (``sd_a^2 / k_a + sd_b^2 / k_b``)."""
    return z_sum(alpha, power) * math.sqrt(sd_diff ** 2 / n + seed_var)


def paired(a, b, seed: int = 42, resamples: int = RESAMPLES, alpha: float = ALPHA, power: float = POWER,
           seed_var: float | None = 0.0) -> Paired:
    """Compare per-query scores ``a`` and ``b`` (same queries, same order).

    Args:
        a, b: one score per query (for a system with several seeds, the mean over them).
        seed: seeds the bootstrap and the randomization test (same inputs, same output).
        resamples: bootstrap resamples and random swaps; the randomization test is exact when ``2^n`` swaps
            are fewer.
        seed_var: the variance training seeds add to ``mean(a) - mean(b)``, counted in the MDE only (0: none;
            None: unknown, and so is the MDE).
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"paired scores need two equal-length lists of at least 2 queries, got {a.shape} and {b.shape}")
    d = a - b
    n = len(d)
    sd = float(np.std(d, ddof=1))
    rng = np.random.default_rng(seed)
    if np.all(d == 0):  # identical scores: nothing to resample (scipy would warn)
        low = high = 0.0
        p_rand = p_t = 1.0
    else:
        if sd == 0:  # the same difference on every query: every resample has that mean
            low = high = float(d[0])
        else:
            boot = stats.bootstrap((d,), np.mean, n_resamples=resamples, confidence_level=1 - alpha, method="BCa",
                                   vectorized=True, rng=rng)
            low, high = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
        perm = stats.permutation_test((a, b), _mean_diff, permutation_type="samples", vectorized=True,
                                      n_resamples=resamples, alternative="two-sided", rng=rng)
        p_rand = float(perm.pvalue)
        p_t = float(stats.ttest_rel(a, b).pvalue) if sd > 0 else 0.0
    return Paired(n=n, differing=int(np.count_nonzero(d)), diff=float(d.mean()), ci_low=low, ci_high=high,
                  p_randomization=p_rand, p_ttest=p_t, sd_diff=sd,
                  mde=None if seed_var is None else mde(sd, n, seed_var, alpha, power))


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (statsmodels), for several systems compared with one baseline."""
    from statsmodels.stats.multitest import multipletests

    if len(pvalues) < 2:
        return list(pvalues)
    return [float(p) for p in multipletests(pvalues, alpha=ALPHA, method="holm")[1]]
