"""The one tie rule (hen_demo.memory.ties): exact ties built in float64, near-ties with margins far above rounding."""

from __future__ import annotations

import math

import numpy as np
import torch

from hen_demo import metrics
from hen_demo.memory import HopfieldMemory
from hen_demo.memory.ties import TIE_LOG_GAP, nearest_of, winner_of_logits, winner_of_weights


def test_equal_weights_tie_and_report_the_lowest_index_whatever_their_order():
    p = torch.tensor([[0.1, 0.45, 0.0, 0.45], [0.45, 0.1, 0.45, 0.0]], dtype=torch.float64)
    winner, tied = winner_of_weights(p)
    assert winner.tolist() == [1, 0] and tied.tolist() == [True, True]
    # a gap 10x the tolerance is a decision, not a tie
    gap = math.exp(-10 * TIE_LOG_GAP)
    p = torch.tensor([[0.0, 0.5 * gap, 0.5]], dtype=torch.float64)
    assert winner_of_weights(p)[0].item() == 2 and not winner_of_weights(p)[1].item()


def test_logit_rule_equals_the_weight_rule():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 50, generator=g, dtype=torch.float64) * 3
    logits[::2, 7] = logits[::2].amax(1)  # exact ties with the top in every other row
    vals, idx = torch.topk(logits, 20, dim=-1)
    wl, tl = winner_of_logits(vals, idx)
    ww, tw = winner_of_weights(torch.softmax(logits, -1))
    assert torch.equal(wl, ww) and torch.equal(tl, tw) and tl[::2].all()


def test_nearest_tie_is_decided_by_the_rule_not_by_rounding():
    patterns = torch.eye(4, dtype=torch.float64)
    s = torch.tensor([[0.0, 0.5, 0.0, 0.5], [0.9, 0.1, 0.0, 0.0]], dtype=torch.float64)  # halfway; clearly #0
    idx, tied = nearest_of(s, patterns)
    assert idx.tolist() == [1, 0] and tied.tolist() == [True, False]
    assert metrics.identity_accuracy(s, patterns, [3, 0]) == 0.5  # the halfway state retrieves neither 1 nor 3


def test_engine_paths_agree_on_an_exact_tie():
    """Reference path, fast path (final_stats) and the stream all report the same winner and tie flag."""
    xi = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)  # mirror-symmetric
    q = torch.tensor([[0.5, 0.5]], dtype=torch.float64)  # equidistant from #0 and #1 (exactly, in float64)
    for sim in ("dot", "l2"):
        mem = HopfieldMemory(xi, similarity=sim, beta=4.0, dtype=torch.float64)
        ref = mem.retrieve(q, steps=3, fast=False)
        fast = mem.retrieve(q, steps=3, keep_weights=False)
        last = list(mem.stream(q, steps=3))[-1]
        for out in (ref, fast, last):
            assert out.top_index.tolist() == [0] and out.tied.tolist() == [True]
        v = metrics.verdict(ref.weights, target=0)
        assert v.kind == "metastable" and "equal weight" in v.text


def test_a_clear_winner_is_never_called_a_tie():
    rng = np.random.default_rng(1)
    xi = torch.tensor(rng.normal(size=(40, 16)), dtype=torch.float32)
    out = HopfieldMemory(xi, similarity="l2", beta=8.0).retrieve(xi + 0.01, steps=5)
    assert not out.tied.any() and torch.equal(out.top_index, torch.arange(40))
