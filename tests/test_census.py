"""Attractor census on a constructed example whose answer is known by hand."""

import numpy as np
import pytest

from hen_demo.census import attractor_census


def _bank():
    # 6 memories 4x4; memory 5 has a black bottom half, memory 4 a mid-grey one; all others white
    imgs = np.full((6, 4, 4, 3), 255, np.uint8)
    imgs[5, 2:] = 0
    imgs[4, 2:] = 51  # 0.2
    return imgs


def test_known_counts_shares_and_brightness():
    hidden = np.zeros((4, 4), bool)
    hidden[2:] = True  # bottom half hidden
    targets = np.arange(6).repeat(2)  # 12 queries, two per memory
    final = targets.copy()
    final[[0, 2, 6, 7]] = 5  # memory 5 captures 4 wrong (6 and 7 both aimed at 3)
    final[[1, 3]] = 4  # memory 4 captures 2
    c = attractor_census(final, targets, _bank(), hidden, top=1)
    assert (c.n_queries, c.n_wrong, c.n_distinct) == (12, 6, 2)
    assert c.wrong_fraction == pytest.approx(0.5)
    assert [(a.index, a.count) for a in c.top] == [(5, 4)]
    assert c.top_share == pytest.approx(4 / 6) and c.top_capture == pytest.approx(4 / 6)
    assert c.top[0].hidden_brightness == pytest.approx(0.0)
    assert c.top_hidden_brightness == pytest.approx(0.0)
    assert c.wrong_hidden_brightness == pytest.approx((4 * 0 + 2 * 0.2) / 6)
    assert c.target_hidden_brightness == pytest.approx(1.0)  # the intended memories were all white below
    assert c.bank_hidden_brightness == pytest.approx((4 + 0.2) / 6)
    two = attractor_census(final, targets, _bank(), hidden, top=5)
    assert [(a.index, a.count, round(a.share, 3)) for a in two.top] == [(5, 4, 0.667), (4, 2, 0.333)]
    assert two.top_capture == pytest.approx(1.0)
    assert "6 of 12" in two.summary() and "2 distinct" in two.summary()
    assert set(two.row()) >= {"distinct_attractors", "top_share", "top_hidden_brightness", "bank_hidden_brightness"}


def test_per_query_masks_and_float_images():
    imgs = _bank().astype(np.float32).transpose(0, 3, 1, 2) / 255  # (N, 3, H, W)
    hidden = np.zeros((2, 4, 4), bool)
    hidden[0, 2:] = True  # query 0: bottom hidden (memory 5 is black there)
    hidden[1, :2] = True  # query 1: top hidden (memory 5 is white there)
    c = attractor_census([5, 5], [0, 1], imgs, hidden)
    assert c.top[0].hidden_brightness == pytest.approx(0.5)
    assert c.wrong_hidden_brightness == pytest.approx(0.5)


def test_all_right_and_bad_input():
    c = attractor_census([0, 1], [0, 1], _bank(), np.ones((4, 4), bool))
    assert c.n_wrong == 0 and c.top == [] and np.isnan(c.top_share) and "no attractors" in c.summary()
    with pytest.raises(ValueError, match="targets"):
        attractor_census([0, 1], [0], _bank(), np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="memories of the bank"):
        attractor_census([9], [0], _bank(), np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="hidden must be"):
        attractor_census([0], [0], _bank(), np.ones((3, 3), bool))


def test_census_of_states_uses_the_nearest_memory():
    from hen_demo.census import census_of_states

    patterns = np.eye(6, dtype=np.float32)  # (N, K) codes
    states = patterns[[5, 5, 2]] + 0.01  # queries 0 and 1 both end on memory 5, query 2 on its own
    c = census_of_states(states, patterns, [0, 1, 2], _bank(), np.ones((4, 4), bool))
    assert (c.n_wrong, c.n_distinct, c.top[0].index, c.top[0].count) == (2, 1, 5, 2)
