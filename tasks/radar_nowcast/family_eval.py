"""``lakesight eval nowcast --family F``: every model on weather of each family, pysteps beside them.

For each family (:mod:`.families`) and each of ``days`` held-out dates, the day is
rendered at its own grid size, and at every ``issue_every_min`` minutes whose input
window and hour of observations lie inside the day, forecasts are issued by:

- the pipeline's own models, through :func:`.forecast.issue_forecasts` (the trained
  nowcaster, persistence, flow), exactly as the forecast stage issues them;
- for an advection-residual nowcaster, also its forecast without the learned correction
  (:data:`UNCORRECTED`: the last frame moved along the model's own motion), so the
  correction's worth on weather it never saw is measured, not assumed;
- pysteps, the peer, run in the same command: Lucas–Kanade motion (``motion.LK``) on
  the last 3 frames in dBR (``dB_transform``, 0.1 mm/h threshold), then semi-Lagrangian
  extrapolation (``nowcasts.extrapolation``) of the last rain-rate field, the setup of
  pysteps' own extrapolation examples.

Every forecast is scored against what the family then rendered, with the pipeline's
verification (:mod:`.verification`: contingency tables and error sums, summed before
any ratio), plus the fractions skill score at 5 and 10 mm/h over 8 and 16 px windows.
Issue times are sparser than the stage's (every 30 minutes by default, not every step)
because pysteps' dense Lucas–Kanade on a 512 px grid costs about a second per issue.

:func:`targets` checks the issue's targets on the result, per family.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from datetime import date, timedelta

import numpy as np
import pandas as pd

from lakesight.progress import Steps
from lakesight.radar_nowcast.encoding import pixel_to_rain, rain_to_pixel
from lakesight.radar_nowcast.families import FAMILIES, family_size, render_family_day
from lakesight.radar_nowcast.verification import (
    fss,
    fss_sums,
    score_rows,
    summarise,
    threshold_key,
)

EVAL_START = "2026-06-01"
PEER = "pysteps_lk"
UNCORRECTED = "advection_uncorrected"
BASELINES = ("persistence", "flow", PEER)


def pysteps_lk(windows: np.ndarray, leads: int) -> np.ndarray:
    """pysteps' Lucas–Kanade + semi-Lagrangian extrapolation of windows (B, T, H, W) uint8."""
    with contextlib.redirect_stdout(sys.stderr):  # pysteps prints its config file on import
        from pysteps import motion, nowcasts
        from pysteps.utils import transformation
    lk, extrapolate = motion.get_method("LK"), nowcasts.get_method("extrapolation")
    out = np.zeros((len(windows), leads, *windows.shape[-2:]), np.uint8)
    for i, window in enumerate(windows):
        rain = pixel_to_rain(window[-3:]).astype(np.float64)
        if not (rain[-1] > 0).any():
            continue  # nothing to move: pysteps' LK needs features to track
        dbr, _ = transformation.dB_transform(rain, threshold=0.1, zerovalue=-15.0)
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            # A field that moves as one block makes LK's outlier test singular; it says so
            # and carries on with every vector, which is then the right answer.
            warnings.simplefilter("ignore", UserWarning)
            velocity = lk(dbr, verbose=False)
            forecast = extrapolate(rain[-1], velocity, leads)
        out[i] = rain_to_pixel(np.nan_to_num(forecast, nan=0.0).clip(min=0.0))
    return out


def issue_minutes(cadence: int, inputs: int, leads: int, every: int) -> list[int]:
    """Minutes of the day at which to issue: whole window behind, whole hour ahead, in the day."""
    first = (inputs - 1) * cadence
    last = 1440 - cadence - leads * cadence
    return [m for m in range(first, last + 1, cadence) if m % every == 0]


def score_day(frames: dict[int, np.ndarray], issues: list[int], nowcaster, cadence: int) -> tuple:
    """(scores rows, FSS rows) of every model's forecasts at ``issues`` of one day."""
    from lakesight.models.nowcasting.advection import AdvectionNowcaster
    from lakesight.radar_nowcast.forecast import issue_forecasts

    leads = nowcaster.outputs
    windows = np.stack(
        [[frames[m - k * cadence] for k in range(nowcaster.inputs - 1, -1, -1)] for m in issues]
    )
    forecasts = issue_forecasts(windows, nowcaster)
    forecasts[PEER] = pysteps_lk(windows, leads)
    if isinstance(nowcaster, AdvectionNowcaster):
        forecasts[UNCORRECTED] = nowcaster.predict(windows, corrected=False)
    scores, fss_rows = [], []
    for model, by_issue in forecasts.items():
        for b, issued in enumerate(issues):
            for k in range(leads):
                observed = frames[issued + (k + 1) * cadence]
                key = {"issued_at": issued, "model": model, "lead_min": (k + 1) * cadence}
                scores += [{**key, **row} for row in score_rows(by_issue[b, k], observed)]
                fss_rows += [{**key, **row} for row in fss_sums(by_issue[b, k], observed)]
    return scores, fss_rows


def eval_family(family: str, model: str, n_days: int, steps: Steps, *, seed: int,
                every_min: int = 30, registry: str | None = None, cadence: int = 6,
                start: str = EVAL_START) -> dict:  # fmt: skip
    """One family's scores: every model and the pysteps peer, summed over ``n_days`` days
    from ``start``, rendered with ``seed``."""
    from lakesight.models.nowcasting.forecaster import load_nowcaster

    nowcaster = load_nowcaster(model, registry)
    trained_on = training_family(model, registry)
    first = date.fromisoformat(start)
    days = [(first + timedelta(days=k)).isoformat() for k in range(n_days)]
    issues = issue_minutes(cadence, nowcaster.inputs, nowcaster.outputs, every_min)
    scores, fss_rows, sizes = [], [], []
    for dt in days:
        size = family_size(family, seed, dt)
        with steps.step(f"{family} {dt}: {size}x{size}, {len(issues)} issue times"):
            minutes = list(range(0, 1440, cadence))
            frames = dict(zip(minutes, render_family_day(family, seed, dt, minutes), strict=True))
            day_scores, day_fss = score_day(frames, issues, nowcaster, cadence)
        scores += [{**r, "issued_at": f"{dt} {r['issued_at']}"} for r in day_scores]
        fss_rows += day_fss
        sizes.append(size)
    summary = summarise(pd.DataFrame(scores))
    result = {
        "family": family,
        "model": nowcaster.name,
        "trained_on": trained_on,
        "trained_on_this_family": None if trained_on is None else trained_on == family,
        "leads_min": summary["leads_min"],
        **{key: summary[key] for key in ("csi", "pod", "far", "mse", "mae", "issues")},
        "fss": summarise_fss(pd.DataFrame(fss_rows), summary["leads_min"]),
        "days": days,
        "seed": seed,
        "frame_sizes": sizes,
        "issue_every_min": every_min,
    }
    result["targets"] = targets(result)
    return result


def training_family(model: str, registry: str | None = None) -> str | None:
    """The weather family a registered model was trained on, as its card records it
    (``data.family``, written by the trainers that generate their days). None when the
    card does not say: a model trained on a user's archive (``radar_nowcast.train``), whose
    weather has no family name. Such a model is held to the targets of weather it never
    saw: the eval cannot tell which family, if any, its weather was."""
    from lakesight.models.runtime import load_card, resolve

    _, directory = resolve(model, registry)
    return load_card(directory).get("data", {}).get("family")


def summarise_fss(rows: pd.DataFrame, leads: list[int]) -> dict:
    """FSS per model, ``"<threshold>mm/<window>px"``, by lead, from summed parts."""
    sums = rows.groupby(["model", "threshold", "window", "lead_min"])[
        ["fss_numerator", "fss_denominator"]
    ].sum()
    out: dict = {}
    for (model, threshold, window), part in sums.groupby(level=[0, 1, 2]):
        part = part.droplevel([0, 1, 2]).reindex(leads)
        values = fss(part["fss_numerator"].to_numpy(), part["fss_denominator"].to_numpy())
        out.setdefault(model, {})[f"{threshold_key(threshold)}mm/{window}px"] = [
            None if np.isnan(v) else round(float(v), 4) for v in values
        ]
    return out


def targets(result: dict) -> dict:
    """The issue's targets for one family's result (leads up to 60 minutes).

    Held-out families: CSI at 2, 5 and 10 mm/h at least flow's and pysteps', MSE below
    both. Every family: CSI at 30 mm/h at least flow's; the first lead above flow at
    every threshold. The family the model's card says it trained on
    (``trained_on_this_family``): CSI at 2 and 5 mm/h at least 0.03 above flow from 30 to
    60 minutes, in place of the held-out targets.
    """
    model, leads = result["model"], result["leads_min"]
    upto60 = [i for i, lead in enumerate(leads) if lead <= 60]
    csi = result["csi"]

    def at_least(key: str, theirs: str, idx, margin: float = 0.0) -> bool:
        ours, base = csi[model][key], csi[theirs][key]
        return all(
            ours[i] is not None and (base[i] is None or ours[i] >= base[i] + margin) for i in idx
        )

    met: dict = {}
    if result["trained_on_this_family"]:
        late = [i for i, lead in enumerate(leads) if 30 <= lead <= 60]
        for key in ("2", "5"):
            met[f"csi_{key}_flow_plus_0.03"] = at_least(key, "flow", late, 0.03)
    else:
        for theirs in ("flow", PEER):
            for key in ("2", "5", "10"):
                met[f"csi_{key}_vs_{theirs}"] = at_least(key, theirs, upto60)
            met[f"mse_vs_{theirs}"] = all(
                result["mse"][model][i] < result["mse"][theirs][i] for i in upto60
            )
    met["csi_30_vs_flow"] = at_least("30", "flow", upto60)
    met["first_lead_vs_flow"] = all(
        csi[model][key][0] is not None
        and (csi["flow"][key][0] is None or csi[model][key][0] > csi["flow"][key][0])
        for key in csi[model]
    )
    met["all"] = all(met.values())
    return met


def eval_families(families: list[str], model: str, n_days: int, steps: Steps, *, seed: int,
                  every_min: int = 30, registry: str | None = None,
                  start: str = EVAL_START) -> dict:  # fmt: skip
    for family in families:
        if family not in FAMILIES:
            raise ValueError(f"unknown weather family {family!r}, expected one of {FAMILIES}")
    results = {
        f: eval_family(
            f, model, n_days, steps, seed=seed, every_min=every_min, registry=registry, start=start
        )
        for f in families
    }
    return {"families": results, "targets_met": all(r["targets"]["all"] for r in results.values())}
