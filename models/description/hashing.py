"""Binary codes: packing, the Hamming top-k kernel, the LSH and PCA-ITQ baselines, retrieval mAP.

Codes are K bits packed with ``numpy.packbits`` (big-endian bit order, K/8
bytes per code), the consumer contract's ``code`` column. Hamming distance is
the popcount of the XOR, with numpy >= 2's ``bitwise_count`` on 64-bit words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def pack(bits: np.ndarray) -> np.ndarray:
    """(N, K) booleans → (N, K/8) uint8 codes; K must be a multiple of 8."""
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim != 2 or bits.shape[1] % 8:
        raise ValueError(f"expected (N, K) bits with K a multiple of 8, got {bits.shape}")
    return np.packbits(bits, axis=1)


def unpack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`pack`: (N, K/8) uint8 → (N, K) booleans."""
    return np.unpackbits(np.asarray(codes, dtype=np.uint8), axis=1, count=bits).astype(bool)


def as_words(codes: np.ndarray) -> np.ndarray:
    """Packed codes (N, B) → (N, ceil(B/8)) uint64 words, zero-padded: what the kernel XORs."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    pad = (-codes.shape[1]) % 8
    if pad:
        codes = np.concatenate([codes, np.zeros((codes.shape[0], pad), np.uint8)], axis=1)
    return codes.view(np.uint64)


def hamming(queries: np.ndarray, database: np.ndarray) -> np.ndarray:
    """Distances (Q, N) between packed codes (uint8; or uint64 words from :func:`as_words`)."""
    q = queries if queries.dtype == np.uint64 else as_words(queries)
    d = database if database.dtype == np.uint64 else as_words(database)
    out = np.zeros((q.shape[0], d.shape[0]), dtype=np.uint16)
    for w in range(q.shape[1]):
        out += np.bitwise_count(q[:, None, w] ^ d[None, :, w])
    return out


class HammingIndex:
    """Exact top-k Hamming search over packed codes, one query at a time.

    Per query: XOR and popcount every database word into preallocated buffers
    (no allocation in the loop), then find the k nearest without sorting a
    million distances: a strided sample gives a distance bound that at least
    ~2k codes meet, a single pass collects the codes within it, and only those
    few are sorted (by distance, then position, so results are deterministic).
    If the bound ever admits fewer than k codes, an exact bisection over the
    small distance range takes over. The buffers make an index single-threaded:
    use one per thread.
    """

    SAMPLE_STRIDE = 256

    def __init__(self, codes: np.ndarray, bits: int) -> None:
        # uint64 words are taken as they are (no copy), so searchers can share one database.
        self.words = codes if codes.dtype == np.uint64 else as_words(codes)
        self.bits = bits
        dtype = np.uint8 if bits < 256 else np.uint16
        self._xor = np.empty(self.words.shape[0], dtype=np.uint64)
        self._count = np.empty(self.words.shape[0], dtype=dtype)
        self._dist = np.empty(self.words.shape[0], dtype=dtype)

    def __len__(self) -> int:
        return self.words.shape[0]

    def distances_to(self, query_words: np.ndarray) -> np.ndarray:
        """Distances (N,) from one query (as uint64 words); a view of an internal buffer."""
        self._dist[:] = 0
        for w in range(self.words.shape[1]):
            np.bitwise_xor(self.words[:, w], query_words[w], out=self._xor)
            np.bitwise_count(self._xor, out=self._count)
            self._dist += self._count
        return self._dist

    def within_kth(self, dist: np.ndarray, k: int) -> np.ndarray:
        """Positions (ascending) of every code at most as far as the k-th nearest: the k
        nearest and all that tie with the k-th, for a re-rank that must see every tie."""
        k = min(k, len(dist))
        if k == 0:
            return np.zeros(0, np.int64)
        sample = dist[:: self.SAMPLE_STRIDE]
        rank = min(len(sample) - 1, -(-2 * k // self.SAMPLE_STRIDE))
        bound = int(np.partition(sample, rank)[rank])
        candidates = np.flatnonzero(dist <= bound)
        if len(candidates) < k:  # unlucky sample: find the exact k-th distance
            lo, hi = bound, self.bits
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if np.count_nonzero(dist <= mid) >= k else (mid + 1, hi)
            candidates = np.flatnonzero(dist <= lo)
        kth = np.partition(dist[candidates], k - 1)[k - 1]
        return candidates[dist[candidates] <= kth]

    def _nearest(self, dist: np.ndarray, k: int) -> np.ndarray:
        candidates = self.within_kth(dist, k)
        return candidates[np.argsort(dist[candidates], kind="stable")[:k]]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices (Q, k), distances (Q, k)), nearest first; k is capped at the database size."""
        k = min(k, len(self))
        q_words = as_words(queries)
        if k == 0:
            return np.zeros((len(q_words), 0), np.int64), np.zeros(
                (len(q_words), 0), self._dist.dtype
            )
        indices = np.empty((len(q_words), k), dtype=np.int64)
        distances = np.empty((len(q_words), k), dtype=self._dist.dtype)
        for i, query in enumerate(q_words):
            dist = self.distances_to(query)
            indices[i] = self._nearest(dist, k)
            distances[i] = dist[indices[i]]
        return indices, distances


# --------------------------------------------------------------------------- baselines


@dataclass
class LSH:
    """Random-hyperplane LSH (Charikar 2002) on centred features."""

    bits: int
    seed: int = 0

    def fit(self, features: np.ndarray) -> LSH:
        rng = np.random.default_rng(self.seed)
        self.mean_ = features.mean(axis=0)
        self.planes_ = rng.standard_normal((features.shape[1], self.bits))
        return self

    def encode(self, features: np.ndarray) -> np.ndarray:
        return pack((features - self.mean_) @ self.planes_ > 0)


@dataclass
class ITQ:
    """PCA + Iterative Quantization (Gong & Lazebnik, CVPR 2011)."""

    bits: int
    iterations: int = 50
    seed: int = 0

    def fit(self, features: np.ndarray) -> ITQ:
        rng = np.random.default_rng(self.seed)
        self.mean_ = features.mean(axis=0)
        centred = features - self.mean_
        # PCA to `bits` dimensions.
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        self.pca_ = vt[: self.bits].T
        v = centred @ self.pca_
        # Alternate: binary codes for a fixed rotation, then the orthogonal Procrustes rotation.
        rotation, _ = np.linalg.qr(rng.standard_normal((self.bits, self.bits)))
        for _ in range(self.iterations):
            b = np.sign(v @ rotation)
            b[b == 0] = 1
            u, _, wt = np.linalg.svd(v.T @ b)
            rotation = u @ wt
        self.rotation_ = rotation
        return self

    def encode(self, features: np.ndarray) -> np.ndarray:
        return pack((features - self.mean_) @ self.pca_ @ self.rotation_ > 0)


# --------------------------------------------------------------------------- evaluation


def retrieval_map(
    query_codes: np.ndarray,
    query_labels: np.ndarray,
    db_codes: np.ndarray,
    db_labels: np.ndarray,
    bits: int,
    top: int = 1000,
) -> float:
    """mAP over the top ``top`` results by Hamming distance; relevant = same label.

    DeepBit's protocol: for each query, AP = mean of precision@i over the ranks i
    (within the top results) that hold a relevant item; mAP averages over queries.
    Ties in distance are broken by database order.
    """
    index = HammingIndex(db_codes, bits)
    found, _ = index.search(query_codes, top)
    relevant = db_labels[found] == np.asarray(query_labels)[:, None]  # (Q, top)
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    precision_at_hit = np.where(relevant, hits / ranks, 0.0)
    n_relevant = relevant.sum(axis=1)
    ap = np.where(n_relevant > 0, precision_at_hit.sum(axis=1) / np.maximum(n_relevant, 1), 0.0)
    return float(ap.mean())
