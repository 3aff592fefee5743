"""Statistics for paired and clustered outcomes: Newcombe's paired interval against a published example, design
effects with known answers, intervals on cells rather than copies, the clustered McNemar, and their nothing cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from probes.errors import ProbeError
from probes.stats import (Z95, clustered_mcnemar, clustered_mean, design_effect, diff_of_proportions, mcnemar,
                          mover_difference, newcombe, newcombe_paired, paired_difference, proportion, wilson)


def wilson_float(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson's score limits written out from the quadratic, for a (possibly effective, non-integer) n."""
    p = k / n
    a = 1 + z * z / n
    b = -(2 * p + z * z / n)
    c = p * p
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def test_paired_newcombe_matches_the_published_example():
    # Cavo et al. (2012) complete response before / after consolidation therapy, [[59, 6], [16, 80]]: Fagerland,
    # Lydersen & Laake (2014, Stat Med 33:2850, and their contingencytables package, test-ch8.R) give Newcombe's
    # square-and-add (method 10) interval -0.0621 (95% CI -0.1186 to -0.0046)
    e = newcombe_paired(59, 6, 16, 80)
    assert e.value == pytest.approx(-10 / 161)
    assert round(e.lo, 4) == -0.1186 and round(e.hi, 4) == -0.0046
    assert e.n == 161 and "method 10" in e.method


def test_paired_newcombe_without_discordant_pairs_is_around_zero_and_not_degenerate():
    e = newcombe_paired(10, 0, 0, 10)
    assert e.value == 0 and e.lo < -0.05 and e.hi > 0.05
    assert e.lo == pytest.approx(-e.hi)  # symmetric table, symmetric interval
    all_right = newcombe_paired(38, 0, 0, 0)  # every item right before and after: the Wilson limit of 38/38
    assert all_right.lo == pytest.approx(-(1 - wilson(38, 38).lo)) and all_right.hi == pytest.approx(1 - wilson(38, 38).lo)
    before = np.r_[np.ones(130, bool), np.zeros(250, bool)]
    d = paired_difference(before, before, np.repeat(np.arange(110), 4)[:380])
    assert d.value == 0 and d.lo < 0 < d.hi and d.hi - d.lo > 0.005
    with pytest.raises(ProbeError):
        newcombe_paired(3, -1, 0, 2)


def test_paired_difference_counts_the_table_the_right_way_round():
    before = np.array([1, 1, 1, 0, 0, 0, 1, 0], bool)
    after = np.array([1, 0, 1, 1, 1, 0, 1, 1], bool)
    e = paired_difference(before, after)  # a=3 both, b=3 gained, c=1 lost, d=1 neither
    want = newcombe_paired(3, 3, 1, 1)
    assert e.value == pytest.approx(after.mean() - before.mean()) == want.value
    assert (e.lo, e.hi) == pytest.approx((want.lo, want.hi))
    with pytest.raises(ProbeError):
        paired_difference(before, after[:5])


def test_design_effect_known_answers():
    # C cells of m identical items, half the cells all 1: deff = (n - 1) / (C - 1) (the copies carry one item each)
    y = np.repeat(np.arange(10) % 2, 4).astype(float)
    cells = np.repeat(np.arange(10), 4)
    assert design_effect(y, cells) == pytest.approx(39 / 9)
    assert design_effect(y, np.arange(40)) == pytest.approx(1.0)  # one item per cell
    assert design_effect(np.ones(40), cells) == 4.0  # nothing varies: the worst case, every copy a duplicate
    one_off = np.ones(40)
    one_off[0] = 0
    assert design_effect(one_off, cells) == 4.0  # one cell shows the minority outcome: too few to estimate from
    assert design_effect(np.tile([0.0, 1.0], 20), cells) == 1.0  # every cell balanced: copies are informative, floored at 1
    assert design_effect(y, np.zeros(40)) == 40.0  # one cell: one observation
    with pytest.raises(ProbeError, match="one cell per item"):
        design_effect(y, cells[:5])


def test_a_proportion_on_cells_uses_the_effective_sample_size():
    y = np.repeat(np.arange(10) % 2, 4).astype(bool)
    cells = np.repeat(np.arange(10), 4)
    e = proportion(y, cells)
    n_eff = 40 / (39 / 9)
    assert (e.lo, e.hi) == pytest.approx(wilson_float(0.5 * n_eff, n_eff))
    assert e.n == 40 and e.n_detail == "40 items in 10 cells" and "n=40 items in 10 cells" in str(e)
    # one item per cell: plain Wilson; no cells given: the old accuracy
    assert (proportion(y, np.arange(40)).lo, proportion(y, np.arange(40)).hi) == pytest.approx((wilson(20, 40).lo, wilson(20, 40).hi))
    assert proportion(y).n_detail == ""


def test_a_difference_rests_on_cells_not_copies_and_states_both_n():
    rng = np.random.default_rng(0)
    a, b = rng.random(38) < 0.8, rng.random(110) < 0.35
    plain = diff_of_proportions(a, b)
    assert plain.method == "newcombe n1=38 n2=110" and plain.n_detail == "38 vs 110"
    # each item copied 5 times into its own cell: the interval on cells stays (nearly) that of the originals, the
    # naive interval on the copies shrinks by about sqrt(5)
    a5, b5 = np.repeat(a, 5), np.repeat(b, 5)
    ca, cb = np.repeat(np.arange(38), 5), np.repeat(np.arange(110), 5)
    cl = diff_of_proportions(a5, b5, ca, cb)
    naive = diff_of_proportions(a5, b5)
    assert cl.value == pytest.approx(plain.value)
    assert cl.hi - cl.lo == pytest.approx(plain.hi - plain.lo, rel=0.03)
    assert naive.hi - naive.lo < 0.6 * (cl.hi - cl.lo)
    assert cl.n == 190 + 550 and cl.n_detail == "190 items in 38 cells vs 550 items in 110 cells"
    # with one item per cell the clustered interval is Newcombe's
    one = diff_of_proportions(a, b, np.arange(38), np.arange(110))
    assert (one.lo, one.hi) == pytest.approx((plain.lo, plain.hi))


def test_mover_of_two_wilson_intervals_is_newcombe():
    e = mover_difference(wilson(30, 40), wilson(12, 50), bound=1.0)
    n = newcombe(30, 40, 12, 50)
    assert (e.value, e.lo, e.hi) == pytest.approx((n.value, n.lo, n.hi))


def test_paired_interval_on_duplicated_items_is_that_of_the_originals():
    rng = np.random.default_rng(3)
    before = rng.random(60) < 0.5
    after = np.where(rng.random(60) < 0.2, ~before, before)
    orig = paired_difference(before, after)
    dup = paired_difference(np.repeat(before, 4), np.repeat(after, 4), np.repeat(np.arange(60), 4))
    naive = paired_difference(np.repeat(before, 4), np.repeat(after, 4))
    assert dup.value == pytest.approx(orig.value)
    assert dup.hi - dup.lo == pytest.approx(orig.hi - orig.lo, rel=0.03)
    assert naive.hi - naive.lo < 0.6 * (dup.hi - dup.lo)
    assert dup.n_detail == "240 item pairs in 60 cells"


def test_clustered_mcnemar_is_mcnemar_with_one_item_per_cell_and_ignores_copies():
    a = np.array([1] * 8 + [0] * 2 + [1] * 5 + [0] * 5, bool)  # 8 lost, 2 gained, 10 concordant
    b = np.array([0] * 8 + [1] * 2 + [1] * 5 + [0] * 5, bool)
    chi = mcnemar(a, b, exact=False)
    assert chi["statistic"] == pytest.approx(3.6) and chi["p"] == pytest.approx(st.chi2.sf(3.6, 1))
    one = clustered_mcnemar(a, b, np.arange(20))
    assert one["statistic"] == pytest.approx(chi["statistic"]) and one["p"] == pytest.approx(chi["p"])
    assert (one["a_only"], one["b_only"]) == (8, 2)
    # every item copied 5 times into its cell: the naive tests see 40 vs 10 and get very small p; the clustered
    # test sees the same 20 cells as before
    a5, b5, cells = np.repeat(a, 5), np.repeat(b, 5), np.repeat(np.arange(20), 5)
    dup = clustered_mcnemar(a5, b5, cells)
    assert dup["p"] == pytest.approx(one["p"])
    assert dup["p"] > 10 * mcnemar(a5, b5)["p"] and dup["p"] > 10 * mcnemar(a5, b5, exact=False)["p"]
    assert dup["n_cells"] == 20 and dup["n_pairs"] == 100
    # nothing changed: p = 1
    assert clustered_mcnemar(a, a, np.arange(20))["p"] == 1.0 == mcnemar(a, a, exact=False)["p"]


def test_clustered_mean_known_answers():
    y = np.array([1.0, 2.0, 4.0, 7.0, 3.0, 5.0])
    e = clustered_mean(y)  # one item per cell: the t interval of the mean
    half = st.t.ppf(0.975, 5) * y.std(ddof=1) / math.sqrt(6)
    assert (e.value, e.lo, e.hi) == pytest.approx((y.mean(), y.mean() - half, y.mean() + half))
    dup = clustered_mean(np.repeat(y, 3), np.repeat(np.arange(6), 3))
    assert (dup.lo, dup.hi) == pytest.approx((e.lo, e.hi))  # copies add nothing
    flat = clustered_mean(np.full(8, 0.25), np.arange(8))
    assert flat.lo == flat.hi == 0.25  # no spread, no uncertainty to report
