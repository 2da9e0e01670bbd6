"""Hamming kernel, LSH/ITQ baselines and retrieval mAP against brute force and hand cases."""

from __future__ import annotations

import numpy as np
import pytest

from lakesight.models.description.hashing import (
    ITQ,
    LSH,
    HammingIndex,
    hamming,
    pack,
    retrieval_map,
    unpack,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("bits", [32, 64, 128, 24])
def test_hamming_matches_bit_by_bit(bits):
    rng = np.random.default_rng(bits)
    a, b = rng.random((5, bits)) > 0.5, rng.random((40, bits)) > 0.5
    expected = (a[:, None, :] != b[None, :, :]).sum(-1)
    np.testing.assert_array_equal(hamming(pack(a), pack(b)), expected)
    np.testing.assert_array_equal(unpack(pack(a), bits), a)


def test_index_search_is_exact_and_deterministic():
    rng = np.random.default_rng(1)
    db = pack(rng.random((5000, 64)) > 0.5)
    queries = pack(rng.random((7, 64)) > 0.5)
    index = HammingIndex(db, 64)
    found, dist = index.search(queries, 25)
    brute = hamming(queries, db)
    for q in range(7):
        expected = np.lexsort((np.arange(len(db)), brute[q]))[:25]  # by distance, then position
        np.testing.assert_array_equal(found[q], expected)
        np.testing.assert_array_equal(dist[q], brute[q][expected])
    assert index.search(queries, 10_000)[0].shape == (7, 5000)
    # The strided sample sees only the 12 exact matches, so its bound admits 12 < k
    # codes: the exact fallback must take over.
    bits = np.ones((3072, 64), bool)
    bits[:: HammingIndex.SAMPLE_STRIDE] = False
    found, dist = HammingIndex(pack(bits), 64).search(pack(np.zeros((1, 64), bool)), 100)
    others = np.setdiff1d(np.arange(3072), np.arange(0, 3072, 256))
    np.testing.assert_array_equal(found[0], np.concatenate([np.arange(0, 3072, 256), others[:88]]))
    assert dist[0, :12].max() == 0 and dist[0, 12:].min() == 64
    assert HammingIndex(pack(bits[:0]), 64).search(queries, 5)[0].shape == (7, 0)
    # Many ties at the bound, and a k the sampled bound cannot reach: still exact.
    same = pack(np.zeros((3000, 64), bool))
    found, dist = HammingIndex(same, 64).search(same[:1], 2500)
    np.testing.assert_array_equal(found[0], np.arange(2500))
    assert not dist.any()


def test_pack_rejects_odd_widths():
    with pytest.raises(ValueError, match="multiple of 8"):
        pack(np.zeros((2, 12), bool))


def test_retrieval_map_hand_case():
    # One query (label 0); database ranked by distance: rel, irrel, rel.
    q = pack(np.zeros((1, 8), bool))
    db_bits = np.zeros((3, 8), bool)
    db_bits[1, :2] = True
    db_bits[2, :3] = True
    labels = np.array([0, 1, 0])
    # precision at hits: 1/1 and 2/3 → AP = (1 + 2/3) / 2
    assert retrieval_map(q, np.array([0]), pack(db_bits), labels, 8, top=3) == pytest.approx(
        (1 + 2 / 3) / 2
    )


def test_itq_beats_lsh_on_clustered_features():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((8, 64)) * 3
    labels = np.arange(4000) % 8
    features = centres[labels] + rng.standard_normal((4000, 64))
    q, d = slice(0, 500), slice(500, None)
    scores = {}
    for name, method in (("itq", ITQ(32)), ("lsh", LSH(32))):
        method.fit(features[d])
        scores[name] = retrieval_map(
            method.encode(features[q]), labels[q], method.encode(features[d]), labels[d], 32, 500
        )
    assert scores["itq"] > scores["lsh"] > 0.125  # both beat chance (8 classes)


def test_within_kth_keeps_every_tie_of_the_kth_distance():
    rng = np.random.default_rng(4)
    db = pack(rng.random((20_000, 64)) > 0.5)
    index = HammingIndex(db, 64)
    query = pack(rng.random((1, 64)) > 0.5)
    dist = index.distances_to(HammingIndex(query, 64).words[0]).copy()
    kth = np.sort(dist)[9]
    np.testing.assert_array_equal(index.within_kth(dist, 10), np.flatnonzero(dist <= kth))
    assert len(index.within_kth(dist, 10)) >= 10
    assert len(index.within_kth(dist[:3], 10)) == 3
    # Words given as uint64 are shared, not converted again.
    assert HammingIndex(index.words, 64).words is index.words
