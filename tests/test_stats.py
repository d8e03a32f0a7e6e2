"""syneg.stats against second implementations on the same inputs: ranx's Fisher randomization test,
statsmodels' t-test of the differences, an exact enumeration of the swaps; and the MDE's promised power."""

import itertools

import numpy as np
import pytest

from syneg import stats


def _cases():
    """Per-query nDCG-like scores of two systems: 300 queries, effects from none to clear, ties included."""
    rng = np.random.default_rng(0)
    for effect in (0.0, 0.005, 0.01, 0.02, 0.04):
        base = rng.beta(2, 2, 300)
        other = np.clip(base + effect + rng.normal(0, 0.12, 300) * (rng.random(300) < 0.4), 0, 1)
        yield effect, other, base


def test_the_randomization_test_agrees_with_ranx_fisher():
    from ranx.statistical_tests import fisher_randomization_test

    gaps = []
    for effect, a, b in _cases():
        ours = stats.paired(a, b, seed=3, resamples=20000).p_randomization
        theirs, _ = fisher_randomization_test(b, a, n_permutations=20000, max_p=0.05, random_seed=3)
        gaps.append(abs(ours - theirs))
        # both estimate the same p by 20,000 random swaps: within 4 standard errors of each other
        assert abs(ours - theirs) <= 4 * np.sqrt(2 * max(ours * (1 - ours), 1e-4) / 20000) + 1e-3, effect
    print(f"largest randomization p-value difference to ranx: {max(gaps):.4f}")


def test_the_randomization_test_is_exact_when_the_swaps_can_be_enumerated():
    rng = np.random.default_rng(5)
    a, b = rng.random(12), rng.random(12)
    d = a - b
    observed = abs(d.mean())
    flips = [abs((d * signs).mean()) >= observed - 1e-12 for signs in itertools.product((1, -1), repeat=12)]
    assert stats.paired(a, b).p_randomization == pytest.approx(sum(flips) / len(flips), abs=1e-12)


def test_the_t_test_agrees_with_statsmodels():
    from statsmodels.stats.weightstats import DescrStatsW

    for _, a, b in _cases():
        theirs = DescrStatsW(a - b).ttest_mean(0)[1]
        assert stats.paired(a, b).p_ttest == pytest.approx(theirs, rel=1e-9)


def test_the_interval_holds_the_difference_is_seeded_and_narrows_with_more_queries():
    _, a, b = list(_cases())[3]
    r = stats.paired(a, b, seed=1)
    assert r.ci_low < r.diff < r.ci_high and r.ci_low > 0  # a clear effect: the interval excludes 0
    assert stats.paired(a, b, seed=1) == r
    small = stats.paired(a[:75], b[:75], seed=1)
    assert (small.ci_high - small.ci_low) > 1.25 * (r.ci_high - r.ci_low)


def test_identical_systems_differ_by_nothing():
    a = np.linspace(0, 1, 50)
    r = stats.paired(a, a.copy())
    assert (r.diff, r.ci_low, r.ci_high, r.p_randomization, r.p_ttest, r.mde, r.differing) == (0, 0, 0, 1, 1, 0, 0)


def test_holm():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.2]) == [0.2]


def test_a_true_effect_of_the_mde_is_found_four_times_in_five():
    from scipy.stats import ttest_1samp

    rng = np.random.default_rng(11)
    n, sd = 300, 0.1
    effect = stats.mde(sd, n)
    found = [ttest_1samp(rng.normal(effect, sd, n), 0).pvalue < 0.05 for _ in range(2000)]
    assert np.mean(found) == pytest.approx(0.8, abs=0.03)
    # seeds add variance the paired test over queries does not see: the MDE grows with it
    assert stats.mde(sd, n, seed_var=0.003 ** 2 * 2) > effect


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="equal-length"):
        stats.paired([0.1, 0.2], [0.1])


def test_the_same_difference_on_every_query_has_its_exact_p_value():
    a = np.array([0.5, 0.6, 0.7])
    r = stats.paired(a, a - 0.1)
    assert r.p_randomization == pytest.approx(0.25) and (r.ci_low, r.ci_high) == pytest.approx((0.1, 0.1))
