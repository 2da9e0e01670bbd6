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
    """Exact top-k Hamming search over packed codes, blocked for the CPU cache.

    The database is scanned in blocks small enough to stay in cache while every
    query of a batch is compared with them, so a batch of queries reads the
    database from memory once, not once per query. Top-k uses the small range
    of Hamming distances: a histogram finds the k-th distance, and only rows at
    or below it are sorted. Ties are broken by database position, so results
    are deterministic.
    """

    def __init__(self, codes: np.ndarray, bits: int, block_rows: int = 1 << 15) -> None:
        self.words = as_words(codes)
        self.bits = bits
        self.block_rows = block_rows

    def __len__(self) -> int:
        return self.words.shape[0]

    def distances(self, queries: np.ndarray) -> np.ndarray:
        q = as_words(queries)
        out = np.empty((q.shape[0], len(self)), dtype=np.uint8 if self.bits < 256 else np.uint16)
        for start in range(0, len(self), self.block_rows):
            block = self.words[start : start + self.block_rows]
            out[:, start : start + len(block)] = hamming(q, block)
        return out

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices (Q, k), distances (Q, k)), nearest first; k is capped at the database size."""
        k = min(k, len(self))
        dist = self.distances(queries)
        indices = np.empty((dist.shape[0], k), dtype=np.int64)
        for i, row in enumerate(dist):
            counts = np.bincount(row, minlength=self.bits + 1)
            kth = int(np.searchsorted(np.cumsum(counts), k))  # smallest d with >= k rows at <= d
            candidates = np.flatnonzero(row <= kth)
            order = np.argsort(row[candidates], kind="stable")[:k]
            indices[i] = candidates[order]
        return indices, np.take_along_axis(dist, indices, axis=1)


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
