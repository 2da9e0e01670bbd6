"""``lakesight eval`` and ``lakesight bench``: model quality and speed, measured in one run.

Speeds are images per second per core: every runtime is pinned to one thread
and timed on the same preprocessed batches; each figure is the median of
``--repeats`` timed passes after one warm-up pass, because the machines are
shared and noisy. Ratios are taken between figures of the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from lakesight.progress import Steps


def median_ips(run: Callable[[], object], n_images: int, repeats: int) -> float:
    """Median images/s of ``run`` (which processes ``n_images``) over ``repeats`` timed passes."""
    run()  # warm-up: lazy allocations, graph optimisation, caches
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        rates.append(n_images / (time.perf_counter() - started))
    return round(statistics.median(rates), 2)


def eval_ssd(model: str, images: int, runtime: str, variant: str, steps: Steps) -> dict:
    """VOC mAP@0.5 of a registered SSD on held-out generated scenes."""
    from lakesight.models.detection.evaluation import evaluate_detector, held_out_scenes
    from lakesight.models.runtime import load_card, load_detector, resolve
    from lakesight.models.scenes import SceneConfig

    ref, directory = resolve(model)
    card = load_card(directory)
    seed = card["evaluation"]["seed"]
    with steps.step(f"generating {images} held-out scenes (seed {seed})"):
        scenes, truths = held_out_scenes(
            images,
            seed,
            SceneConfig(photo_backgrounds=True, photometric_jitter=True),
            card["classes"],
        )
    detector = load_detector(str(ref), runtime=runtime, variant=variant)
    with steps.step(f"detecting with {ref} on {runtime} ({variant})"):
        result = evaluate_detector(detector.detect, scenes, truths, card["classes"])
    return {**result, "model": str(ref), "runtime": runtime, "variant": variant, "seed": seed}


def bench_ssd(model: str, images: int, repeats: int, eval_images: int, steps: Steps) -> dict:
    """Per-core images/s of ORT fp32, ORT int8, OpenCV DNN and torch eager, both mAPs, and
    the variant the runtime's start-up micro-benchmark picks on this CPU."""
    import torch

    from lakesight.models.detection.detector import InputSpec, preprocess
    from lakesight.models.detection.evaluation import held_out_scenes
    from lakesight.models.detection.ssd import SSD, SSDConfig
    from lakesight.models.runtime import load_card, opencv_runner, ort_runner, resolve, verified
    from lakesight.models.scenes import SceneConfig

    ref, directory = resolve(model)
    card = load_card(directory)
    spec = InputSpec(**card["input"])
    scenes, _ = held_out_scenes(
        images, card["evaluation"]["seed"] + 100, SceneConfig(photo_backgrounds=True)
    )
    batch = 16
    batches = [preprocess(scenes[i : i + batch], spec) for i in range(0, images, batch)]

    def over_batches(runner) -> Callable[[], None]:
        return lambda: [runner(b) for b in batches]

    files = card["files"]
    fp32 = verified(directory, card, files["fp32"])
    int8 = verified(directory, card, files["int8"])
    torch.set_num_threads(1)
    net = SSD(SSDConfig.from_dict(card["ssd_config"]))
    state = torch.load(verified(directory, card, files["torch"]), weights_only=True)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    net.eval()

    def torch_runner(x: np.ndarray):
        with torch.inference_mode():
            return net(torch.from_numpy(x))

    result: dict[str, object] = {
        "model": str(ref),
        "images": images,
        "repeats": repeats,
        "threads": 1,
    }
    for key, label, runner in (
        ("fp32_ips", "ONNX Runtime fp32", ort_runner(fp32, 1)),
        ("int8_ips", "ONNX Runtime int8", ort_runner(int8, 1)),
        ("opencv_ips", "OpenCV DNN fp32", opencv_runner([fp32], 1, card.get("outputs"))),
        ("torch_ips", "torch eager fp32", torch_runner),
    ):
        with steps.step(f"timing {label}"):
            result[key] = median_ips(over_batches(runner), images, repeats)
    result["int8_speedup"] = round(result["int8_ips"] / result["fp32_ips"], 3)
    with steps.step("the runtime's start-up choice"):
        from lakesight.models.catalog import fastest_variant

        result["runtime_choice"] = fastest_variant(str(ref))
    for variant in ("fp32", "int8"):
        quality = eval_ssd(str(ref), eval_images, "ort", variant, steps)
        result[f"{variant}_map50"] = quality["map50"]
    result["int8_map50_drop"] = round(result["fp32_map50"] - result["int8_map50"], 4)
    result["eval_images"] = eval_images
    return result


def eval_deepbit(
    model: str, queries: int, database: int, steps: Steps, pool: int | None = None
) -> dict:
    """DeepBit vs PCA-ITQ vs LSH, mAP@1000, through the exported graph of a registered model."""
    from lakesight.models.description.deepbit import DeepBitConfig
    from lakesight.models.description.train_deepbit import DeepBitTrainConfig, evaluate_retrieval
    from lakesight.models.runtime import descriptor_from_card, load_card, resolve

    ref, directory = resolve(model)
    card = load_card(directory)
    config = DeepBitTrainConfig(
        queries=queries,
        database=database,
        pool=pool or card["training"]["stage2"]["pool"],  # the baselines' training set
        deepbit=DeepBitConfig.from_dict(card["deepbit_config"]),
    )
    describers = {k: descriptor_from_card(directory, card, bits=k) for k in card["bits"]}
    with steps.step(f"rendering crops and searching {queries} queries x {database} codes"):
        result = evaluate_retrieval(lambda images, k: describers[k].describe(images), config)
    return {**result, "model": str(ref)}


def bench_hamming(codes: int, bits: int, queries: int, k: int, repeats: int, steps: Steps) -> dict:
    """Top-k Hamming search over ``codes`` random codes, against the memory-bandwidth limit.

    The limit is what a scan that reads the whole database from memory once per
    query could reach: measured bandwidth / database bytes. The numpy kernel
    makes several passes per query (XOR, popcount, bound, gather), so it
    reaches a fraction of that; the ratio says how much.
    """
    from lakesight.models.description.hashing import HammingIndex

    rng = np.random.default_rng(0)
    database = rng.integers(0, 256, (codes, bits // 8), dtype=np.uint8)
    batch = rng.integers(0, 256, (queries, bits // 8), dtype=np.uint8)
    index = HammingIndex(database, bits)
    with steps.step(f"timing {queries} queries over {codes} codes"):
        batched = median_ips(lambda: index.search(batch, k), queries, repeats)
    single_n = min(16, queries)
    with steps.step("timing one query at a time"):
        single = median_ips(
            lambda: [index.search(batch[i : i + 1], k) for i in range(single_n)], single_n, repeats
        )
    with steps.step("measuring memory bandwidth"):
        big = np.ones(32 * 1024 * 1024, dtype=np.uint64)  # 256 MiB: far beyond any cache
        reads_per_s = median_ips(lambda: big.sum(), 1, repeats)
        bandwidth = reads_per_s * big.nbytes
    limit = bandwidth / index.words.nbytes
    return {
        "codes": codes,
        "bits": bits,
        "queries": queries,
        "k": k,
        "queries_per_s": batched,
        "single_query_per_s": single,
        "memory_bandwidth_gb_s": round(bandwidth / 1e9, 2),
        "full_scan_limit_queries_per_s": round(limit, 2),
        "ratio_to_scan_limit": round(batched / limit, 3),
        "single_ratio_to_scan_limit": round(single / limit, 3),
    }
