"""A nowcaster whose structure is the physics: advect, then learn growth and decay in the moving frame.

Rain mostly moves, and grows or decays while it moves (the premise of pysteps' and
rainymotion's extrapolation, and of NowcastNet's evolution network, Zhang et al. 2023).
So the motion is not learned here; it is measured and applied, and the network only
learns what advection leaves out:

1. **Motion** (:func:`window_motion`), in pixels per step, from one of two trackers:
   the flow baseline's dense DIS field over the last 3 frames
   (:func:`lakesight.radar_nowcast.baselines.motion_field`), carried from the echo into
   the clear air around it (:func:`echo_motion`), or sparse Lucas-Kanade vectors on the
   echo's corners spread smoothly over the grid (:func:`tracked_motion`, pysteps' method).
   DIS sees fine structure but, looking at small patches, not the motion along a line
   (the aperture problem: a squall line slides along itself unseen); corners see the
   whole motion but only where there are corners. Each region takes the candidates that
   best retrace its own past, the window's first frame advected to its last
   (:func:`regional_motion`; version 2 took one candidate per window).
2. **Advection**: for each lead ``k``, the departure points of a semi-Lagrangian
   backward trajectory (:func:`~lakesight.radar_nowcast.baselines.departure_points`).
   The last frame sampled there is the advected forecast ``A_k`` (the flow baseline's
   scheme, along the echo's motion; bilinear in rain rate since version 4, as pysteps
   samples, :func:`sample_frame_at`); the
   two frames before it, sampled ``k+1`` and ``k+2`` steps back, give the Lagrangian
   tendencies ``A_k - B_k`` and ``B_k - C_k``: how the rain that arrives at a pixel
   was growing or decaying along its way.
3. **Residual in the moving frame**: a small fully convolutional network maps
   ``[A_k, A_k - B_k, B_k - C_k, k / K]`` to a correction ``r_k``, and the forecast is
   ``clip(A_k + r_k, 0, 1)``. The correction acts only on advected echo and within
   :data:`REACH` px of it: growth and decay, not rain from clear air. Its last layer
   starts at zero, so an untrained model *is* advection along the measured motion (the
   flow baseline's scheme); training can only
   move it from there.
4. **The hindcast gate** (:func:`hindcast_gate`, since version 3): the correction applies
   only where it would have bettered the window's own last two frames, forecast from the
   frames before them. What it learned of one weather's growth and decay is not imposed
   on another's.
5. **The spread** (:func:`likely_rain`, since version 5): lead ``k`` forecasts, at each
   pixel, the highest level its rain reaches there with a chance of at least
   ``spread_probability`` when it may be displaced by ``spread_px_per_step x k`` px. The
   longer the lead, the less a cell can be placed (S-PROG's premise). Since version 6 the
   chance asked for falls where the model's skill does (:func:`spread_cuts`): heavy rain,
   long leads, down to a card's ``spread_floor`` (0.25 in versions 6-9, 0.15 since 10).
6. **The short leads** (since version 7): the first ``short_leads`` leads are the last frame
   advected along the motion that retraces the *last step* (:func:`last_step_motion`),
   without the correction. The window's motion is the one that holds for an hour; the
   last step's is the one that holds now; and over a few steps growth and decay are
   smaller than the correction's own error.
7. **The ensemble where growth does not persist** (a card's ``ensemble_below``; measured and
   not shipped, README radar section): when the growth and decay of the window's last step
   does not follow from the step before (:func:`growth_persistence` below
   ``ensemble_below``), there is nothing for the correction to extrapolate, and the later
   leads are instead the retrace-weighted mean of the last frame advected along every
   candidate motion (:func:`ensemble_advection`): the forecast hedges over the motion's
   uncertainty rather than betting on one motion. The first lead after the short ones is
   the mean of the two, a handover rather than a switch. At 0.1 it met every target but one
   on the tuning days, and missed more on two other sets of days than version 7 does.
8. **Fewer short leads where growth persists** (a card's ``growth_persists_from``, since
   version 9): where the window's growth and decay persists (:func:`growth_persistence` at
   least ``growth_persists_from``), only the first ``short_leads_where_growth_persists``
   leads are the last step's advection, and the correction starts sooner: there it has a
   growth to extrapolate, and it does. Where growth does not persist, the short leads hold
   for longer, since a correction would extrapolate noise.
9. **The expected rain within each class** (a card's ``within_class``, since version 8): the
   spread decides each pixel's class, which threshold of :data:`SPREAD_SKILL`'s its rain
   is likely to reach; within that class, the forecast is the rain to expect there, the
   advected rain averaged over the same motion error (:func:`expected_within_classes`).
   The spread's upper quantile is the right event forecast and the wrong amount: the
   expected rain is what a squared error rewards.
10. **Heavy rain held in its class** (a card's ``heavy_rain_held_from_mm_h``, since version 11):
   the correction may change the rain of a pixel advected at or above that rate, but not take
   it below it (:func:`held_in_heavy_class`). The correction is an expected change, and a
   heavy core it expects to weaken still keeps a chance of staying heavy that clears the
   spread's low cut there.
11. **A motion error already there at the issue time** (a card's ``spread_px_at_issue``, since
   version 12): lead ``k``'s displacement error is ``sqrt(s0² + (spread_px_per_step x k)²)``
   px (:func:`spread_sigma_px`), not one that starts at zero. The last frame's rain is itself
   placed only to within interpolation and the motion's measurement, so the first lead is
   not certain to the pixel.

Everything is per pixel-step: motion in pixels per step, convolutions with a fixed
receptive field, no global layer. The model runs at the radar's own resolution, any
grid (odd sizes too): the one down-sampling is undone to the input's exact size.
The ONNX graph maps ``moving (N, 4, H, W)`` (N = windows x leads) to ``correction
(N, 1, H, W)``; steps 1-2 run in NumPy/OpenCV before it, shared by training and
inference (:func:`moving_frame_inputs`).
"""

from __future__ import annotations

import copy
import functools
import itertools
from dataclasses import asdict, dataclass, field

import numpy as np

CHANNELS = 4  # A_k, A_k - B_k, B_k - C_k, k / K
LEGACY_MOTION = "echo_dis"  # what a card without model_config.motion was trained on
HISTORY = 3  # frames the motion and the tendencies come from
REACH = 2  # px beyond the advected echo where the correction may act
MOTION_SIGMA_PX = 6.0  # how far the echo's motion is carried into clear air
# Sparse tracking: Shi-Tomasi corners followed by pyramidal Lucas-Kanade with a wide window
# (robust on smooth echo), each field's vectors spread by a normalised Gaussian of these
# widths: local shear at 20 px, the storm's motion at 80.
TRACK_WINDOW_PX = 50
TRACK_SIGMAS_PX = (20.0, 40.0, 80.0)
# The regional choice of motion (:func:`regional_motion`): each candidate's retrace error is
# averaged over a Gaussian neighbourhood this wide, and a candidate whose error there
# exceeds the best by RETRACE_TEMPERATURE times the best weighs 1/e as much.
RETRACE_SIGMA_PX = 8.0
RETRACE_TEMPERATURE = 0.25
MAX_CORRECTION = 0.12  # of the pixel range: about 8 dBZ either way
# The hindcast gate (:func:`hindcast_gate`): the window's last HINDCAST_LEADS frames are
# forecast from the ones before, with and without the correction, and each one's rain-rate
# error is averaged over a Gaussian neighbourhood GATE_SIGMA_PX wide.
HINDCAST_LEADS = 2
GATE_SIGMA_PX = 16.0
LEGACY_GATE = "none"  # what a card without model_config.gate runs: the correction everywhere
GATES = ("hindcast", "none")
# How a frame is sampled at the departure points (:func:`sample_frame_at`): bilinearly in
# "rain" rate since version 4, in the encoded "reflectivity" levels before (a card without
# model_config.sampling).
SAMPLINGS = ("reflectivity", "rain")
LEGACY_SAMPLING = "reflectivity"
# How far the motion is trusted (:func:`likely_rain`, since version 5): lead k forecasts
# what the rain likely reaches under a displacement error of spread x k px. A card without
# model_config.spread_px_per_step forecasts the advected rain itself (0).
LEGACY_SPREAD = 0.0
# The spread's cut by level and lead (:func:`spread_cuts`, since version 6): version 5's CSI
# on the tuning days, by rain threshold (rows) and lead (+6 to +60), the mean over the three
# families: `lakesight eval nowcast --family all --days 5 --every-min 60 --seed 7 --start
# 2026-03-01 --model advection_radar@5`. A card without model_config.spread_skill cuts at
# spread_probability everywhere.
SPREAD_SKILL = {
    "rain_mm_h": [0.5, 2.0, 5.0, 10.0, 30.0],
    "csi": [
        [0.8427, 0.7854, 0.7337, 0.6863, 0.6452, 0.6086, 0.5752, 0.5447, 0.5175, 0.4923],
        [0.8048, 0.7461, 0.6885, 0.6361, 0.5912, 0.5507, 0.5152, 0.4808, 0.4541, 0.4300],
        [0.7238, 0.6585, 0.5937, 0.5360, 0.4855, 0.4428, 0.4048, 0.3683, 0.3406, 0.3184],
        [0.7021, 0.6240, 0.5537, 0.4969, 0.4450, 0.3983, 0.3530, 0.3151, 0.2836, 0.2604],
        [0.5605, 0.4567, 0.3781, 0.3229, 0.2779, 0.2311, 0.1996, 0.1660, 0.1443, 0.1395],
    ],
}
# The lowest cut. 0.25 in versions 6-9: below it, heavy rain spread wide cost more MSE than
# it gained CSI. Since version 10, 0.15: with the expected rain within each class (version 8)
# a wider heavy class costs less squared error, and on the tuning days 0.15 lifted
# `hko_like`'s CSI at 30 mm/h from +30 (0.137 to 0.152 at +30, 0.055 to 0.097 at +60) for
# at most 3.3% more MSE, still below flow's and pysteps' on every family (README, version 10).
SPREAD_FLOOR = 0.15
# The short leads (:func:`last_step_motion`, since version 7): how many, and how sharply each
# region takes the candidate that retraces the last step (a much lower temperature than the
# window's: over one step the candidates' errors differ by little, and a blend of them
# placed the first lead worse than any one of them).
SHORT_LEADS = 6  # 3 in version 7
LAST_STEP_TEMPERATURE = 0.02
LEGACY_SHORT_LEADS = 0  # a card without model_config.short_leads: every lead the window's way
# The ensemble (:func:`growth_persistence`, :func:`ensemble_advection`): the growth of each
# step is smoothed over GROWTH_SMOOTH_PX before it is correlated (unsmoothed, the noise of the
# frame the two steps share makes the correlation negative on any weather). A card with
# model_config.ensemble_below forecasts the later leads of a window whose correlation is
# below it as the ensemble; no shipped card has it (README, radar section).
GROWTH_SMOOTH_PX = 2.0
# What a forecast pixel's value is within the class the spread gives it (:func:`likely_rain`):
# "expected", the expected rain under the motion error (:func:`expected_within_classes`),
# since version 8; "likely", the spread's quantile itself, before (a card without
# model_config.within_class).
WITHIN_CLASS = ("expected", "likely")
LEGACY_WITHIN_CLASS = "likely"
# Fewer short leads where the window's growth persists (:func:`growth_persistence`, since
# version 9): chosen on the tuning days, where the statistic's quartiles are 0.39-0.71 on
# `hko_like` (cells that grow and decay over their lives) and -0.07-0.15 on `spectral`
# (growth at random). A card without model_config.growth_persists_from runs ``short_leads``
# on every window.
GROWTH_PERSISTS_FROM = 0.4
SHORT_LEADS_WHERE_GROWTH_PERSISTS = 3
# Heavy rain held in its class (:func:`held_in_heavy_class`, since version 11): the top class
# of SPREAD_SKILL, the one whose cut sits at the floor from +36. A card without
# model_config.heavy_rain_held_from_mm_h lets its correction take any rain anywhere.
HEAVY_RAIN_HELD_FROM_MM_H = 30.0
# The motion error at the issue time (:func:`spread_sigma_px`, since version 12), chosen on
# the tuning days (seed 7, `@11` with 0.25, 0.35 and 0.5 px, a scratch script): with none, the
# first lead's 0.5 px Gaussian puts 62% on the pixel itself and 8% on each side, so a dry
# pixel reached the first lead's cut (30%) only with rain on about four sides. At 0.35 px
# (0.61 px at +6, 1.06 px at +12) the first lead's CSI rose at every threshold on every
# family (by up to 0.011), its MSE fell to 0.956-0.988 of `@11`'s, and no later lead's CSI
# moved by more than 0.0004. 0.5 px lost up to 0.0019 at 0.5 mm/h and 0.0015 on `squall`'s
# later leads. A card without model_config.spread_px_at_issue spreads from zero.
SPREAD_PX_AT_ISSUE = 0.35


def is_number(value) -> bool:
    """A card's JSON number: an int or a float, not a bool (JSON's true is not 1 px)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class AdvectionConfig:
    inputs: int = 5  # frames in; the last HISTORY are used
    outputs: int = 10
    head: int = 16  # channels of the stride-2 entry convolution
    body: int = 24  # channels of the dilated body (all at half resolution)
    # How the motion is measured (one of MOTIONS): "regional" (:func:`regional_motion`) since
    # version 3, "retraced" (:func:`window_motion`) for version 2; version 1 was trained on
    # "echo_dis" (the DIS field only). Each model keeps the one its card names.
    motion: str = "regional"
    # Where the correction applies: "hindcast" (:func:`hindcast_gate`) since
    # version 3; "none", everywhere, before.
    gate: str = "hindcast"
    # How advection samples a frame between pixels (one of SAMPLINGS): "rain" since version 4.
    sampling: str = "rain"
    # The motion's error in px per step that each lead's forecast is spread over, and the
    # chance an event must have there to be forecast (:func:`likely_rain`): since version 5.
    spread_px_per_step: float = 0.5
    spread_probability: float = 0.3
    # The motion's error already there at the issue time (:func:`spread_sigma_px`): since
    # version 12.
    spread_px_at_issue: float = SPREAD_PX_AT_ISSUE
    # The skill the cut follows, and its floor (:func:`spread_cuts`): since version 6.
    spread_skill: dict | None = field(default_factory=lambda: copy.deepcopy(SPREAD_SKILL))
    spread_floor: float = SPREAD_FLOOR
    # Leads forecast along the last step's motion, uncorrected (:func:`last_step_motion`):
    # since version 7.
    short_leads: int = SHORT_LEADS
    # Below this growth persistence, the later leads are the ensemble mean
    # (:func:`growth_persistence`, :func:`ensemble_advection`); None: never. Measured at 0.1
    # and not shipped (README, radar section).
    ensemble_below: float | None = None
    # Within the class the spread forecasts, the expected rain or the spread's quantile
    # (one of WITHIN_CLASS): "expected" since version 8.
    within_class: str = "expected"
    # From this growth persistence, a window's short leads are the fewer ones below
    # (:func:`growth_persistence`); None: ``short_leads`` everywhere. Since version 9.
    growth_persists_from: float | None = GROWTH_PERSISTS_FROM
    short_leads_where_growth_persists: int = SHORT_LEADS_WHERE_GROWTH_PERSISTS
    # The correction keeps rain advected at or above this rate (mm/h) at or above it
    # (:func:`held_in_heavy_class`); None: never. Since version 11.
    heavy_rain_held_from_mm_h: float | None = HEAVY_RAIN_HELD_FROM_MM_H
    kind: str = "advection_residual"

    def __post_init__(self) -> None:
        # A card is configuration: a wrong value fails at load, naming the field, not mid-forecast.
        choices = {"motion": tuple(MOTIONS), "gate": GATES, "sampling": SAMPLINGS,
                   "within_class": WITHIN_CLASS}  # fmt: skip
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"model_config.{name}: {getattr(self, name)!r} is not one of "
                                 f"{allowed}")  # fmt: skip
        for name in ("short_leads", "short_leads_where_growth_persists"):
            if not 0 <= getattr(self, name) <= self.outputs:
                raise ValueError(f"model_config.{name}: {getattr(self, name)} is not within "
                                 f"0..{self.outputs}")  # fmt: skip
        for name in ("ensemble_below", "growth_persists_from"):
            value = getattr(self, name)
            if value is not None and not -1 <= value <= 1:
                raise ValueError(f"model_config.{name}: {value} is not a correlation (-1..1) "
                                 f"or null")  # fmt: skip
        held = self.heavy_rain_held_from_mm_h
        if held is not None and not (is_number(held) and held > 0):
            raise ValueError(f"model_config.heavy_rain_held_from_mm_h: {held!r} is not a rain "
                             f"rate above 0 mm/h or null")  # fmt: skip
        at_issue = self.spread_px_at_issue
        if not (is_number(at_issue) and at_issue >= 0):
            raise ValueError(f"model_config.spread_px_at_issue: {at_issue!r} is not a distance "
                             f"of 0 px or more")  # fmt: skip

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> AdvectionConfig:
        # A card from before ``motion`` existed was trained on the DIS motion only, one from
        # before ``gate`` applied its correction everywhere, one from before ``sampling``
        # advected the encoded levels, and one from before ``spread_px_per_step`` forecast
        # the advected rain itself, one from before ``spread_skill`` cut at one chance, and
        # one from before ``short_leads`` forecast every lead along the window's motion, and
        # one from before ``within_class`` forecast the spread's quantile as the rain, and
        # one from before ``growth_persists_from`` ran as many short leads on every window, and
        # one from before ``heavy_rain_held_from_mm_h`` let its correction take any rain, and
        # one from before ``spread_px_at_issue`` spread its forecasts from no error at all.
        values = {"motion": LEGACY_MOTION, "gate": LEGACY_GATE, "sampling": LEGACY_SAMPLING,
                  "spread_px_per_step": LEGACY_SPREAD, "spread_px_at_issue": 0.0,
                  "spread_skill": None,
                  "short_leads": LEGACY_SHORT_LEADS, "within_class": LEGACY_WITHIN_CLASS,
                  "growth_persists_from": None, "heavy_rain_held_from_mm_h": None,
                  **values}  # fmt: skip
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def moving_frame_inputs(window: np.ndarray, leads: int, motion: np.ndarray | None = None,
                        method: str = "regional", sampling: str = LEGACY_SAMPLING) -> np.ndarray:  # fmt: skip
    """The network's inputs for one window (T, H, W) uint8: float32 ``(leads, 4, H, W)``.

    Channel 0 is the last frame advected to each lead, in 0..1: the flow baseline's
    semi-Lagrangian scheme, along ``motion`` (by default measured by ``method``, one of
    :data:`MOTIONS`), sampled as ``sampling`` says (:func:`sample_frame_at`).
    """
    from lakesight.radar_nowcast.baselines import departure_points

    frames = window[-HISTORY:].astype(np.float32) / np.float32(255.0)
    height, width = frames.shape[1:]
    out = np.zeros((leads, CHANNELS, height, width), np.float32)
    out[:, 3] = (np.arange(1, leads + 1, dtype=np.float32) / leads)[:, None, None]
    if not window[-1].any():
        return out  # nothing to move, nothing grows from nothing
    motion = MOTIONS[method](window, sampling) if motion is None else motion
    departures = list(departure_points(motion, leads + 2))
    for k in range(leads):
        a = sample_frame_at(frames[-1], departures[k], sampling, full_scale=1.0)
        b = sample_frame_at(frames[-2], departures[k + 1], sampling, full_scale=1.0)
        c = sample_frame_at(frames[-3], departures[k + 2], sampling, full_scale=1.0)
        out[k, 0], out[k, 1], out[k, 2] = a, a - b, b - c
    return out


def sample_frame_at(frame: np.ndarray, points: np.ndarray, sampling: str,
                    full_scale: float = 255.0) -> np.ndarray:  # fmt: skip
    """A frame of pixel levels (float32, ``full_scale`` for level 255) sampled bilinearly at
    ``points``: in the levels themselves (``"reflectivity"``, the flow baseline's way) or in
    rain rate (``"rain"``, pysteps' way, :func:`~lakesight.radar_nowcast.baselines.sample_rain_at`).

    Why rain, since version 4: a point between a core and its edge then carries the mean of
    their rain, not the rain of their mean decibel, which is less. Without retraining, on
    the tuning days (seed 7) and again on the eval's (seed 2026), it raised CSI on every
    family at most thresholds and leads (by up to 0.009, most at the first lead), for a
    1-2% higher MSE on ``hko_like`` and ``spectral`` (README, radar section).
    """
    from lakesight.radar_nowcast.baselines import sample_at, sample_rain_at

    if sampling == "rain":
        return sample_rain_at(frame, points, full_scale)
    if sampling == "reflectivity":
        return sample_at(frame, points)
    raise ValueError(f"unknown sampling {sampling!r}, expected one of {SAMPLINGS}")


def spread_sigma_px(spread_px_per_step: float, at_issue_px: float, lead: int) -> float:
    """The width in px of lead ``lead``'s (1-based) Gaussian displacement error: an error
    ``at_issue_px`` already there when the forecast is issued and one that grows by
    ``spread_px_per_step`` each step, independent, so their variances add."""
    return float(np.hypot(at_issue_px, spread_px_per_step * lead))


def likely_rain(forecast: np.ndarray, spread_px_per_step: float,
                probability: float | np.ndarray, at_issue_px: float = 0.0) -> np.ndarray:  # fmt: skip
    """Forecast pixels (leads, H, W) uint8 → at each pixel of lead ``k`` (1-based), the
    highest level the forecast reaches there with at least ``probability`` when its rain may
    be displaced by a Gaussian error :func:`spread_sigma_px` wide (``spread_px_per_step x
    k`` px with none ``at_issue_px``): the weighted upper quantile of the pixels around it.
    ``probability`` is one cut, or one per lead and level (leads, 256) (:func:`spread_cuts`).

    Why: a motion measured to within r px per step places lead k's rain to within about
    r*k px, and the longer the lead, the less a cell's exact place can be forecast (S-PROG's
    premise, Seed 2003). Where an event (rain above a threshold) is at least this likely,
    it is forecast: for each threshold, the forecast area is the neighbourhood probability
    of the event, cut at ``probability``. A cut below one half forecasts an event where it
    is fairly likely rather than where it is sure, which is what CSI rewards when the
    forecast is uncertain (its best cut is below one half, Mason 1989). A heavy core wider
    than the error keeps its level, as a smoothing of the rain (its expected value, the
    squared error's optimum) would not: smoothed over 2.5 px at +30 minutes, CSI at 30 mm/h
    fell from 0.100 to 0.063 on the tuning days (README, version 5). A shower narrower than
    the error can no longer be placed, and is no longer forecast.
    """
    import cv2

    if not spread_px_per_step:
        return forecast
    cuts = np.broadcast_to(np.asarray(probability, np.float32), (len(forecast), 256))
    out = forecast.copy()
    for k, lead in enumerate(forecast):
        sigma = spread_sigma_px(spread_px_per_step, at_issue_px, k + 1)
        # The event "at least level l" is monotone in l, so the last level whose
        # neighbourhood probability clears the cut is the quantile. (With a cut per level,
        # a level may clear where a lower one did not: the highest that clears is taken.)
        for level in range(1, int(lead.max()) + 1):
            chance = cv2.GaussianBlur((lead >= level).astype(np.float32), (0, 0), sigma)
            out[k][chance >= cuts[k, level]] = level
    return out


def spread_cuts(skill: dict | None, leads: int, probability: float, floor: float) -> np.ndarray:
    """The chance each level must have at each lead to be forecast (:func:`likely_rain`):
    (leads, 256) float32. Without ``skill``, ``probability`` everywhere. With it (CSI by
    ``rain_mm_h`` threshold and lead, :data:`SPREAD_SKILL`), ``CSI / (1 + CSI)`` at the
    level's rain rate (interpolated in log rain, held beyond the end thresholds), kept
    within ``[floor, probability]``.

    Why: for a calibrated probability, the cut that maximises F1 is half the F1 it reaches
    (Lipton et al. 2014), and CSI = F1 / (2 - F1) rises with F1, so CSI's best cut is
    ``CSI / (1 + CSI)``. The rarer and less predictable the event (heavy rain, long leads),
    the lower the cut: one cut of 30% left `hko_like`'s 30 mm/h below flow's from +36 on
    the tuning days (README, version 6).
    """
    from lakesight.radar_nowcast.encoding import pixel_to_rain

    if not skill:
        return np.full((leads, 256), probability, np.float32)
    csi = np.asarray(skill["csi"], np.float64)
    if csi.shape != (len(skill["rain_mm_h"]), leads):
        raise ValueError(f"spread_skill: expected CSI for {len(skill['rain_mm_h'])} thresholds "
                         f"x {leads} leads, got {csi.shape}")  # fmt: skip
    rain = np.log(np.maximum(pixel_to_rain(np.arange(256, dtype=np.uint8)), 1e-3))
    thresholds = np.log(np.asarray(skill["rain_mm_h"], np.float64))
    cuts = np.empty((leads, 256), np.float32)
    for k in range(leads):
        skill_at = np.interp(rain, thresholds, csi[:, k])
        cuts[k] = np.clip(skill_at / (1 + skill_at), floor, probability)
    return cuts


def expected_within_classes(likely: np.ndarray, advected: np.ndarray, spread_px_per_step: float,
                            classes_mm_h, at_issue_px: float = 0.0) -> np.ndarray:  # fmt: skip
    """The spread's forecast ``likely`` (leads, H, W) uint8 (:func:`likely_rain`) valued within
    its classes: each pixel keeps the class ``likely`` gives it (between two consecutive
    ``classes_mm_h`` thresholds, or below the first or above the last), and within it takes
    the rain to expect there, the ``advected`` rain (leads, H, W) uint8, before the spread,
    averaged over the same Gaussian motion error (:func:`spread_sigma_px`) at lead ``k`` and
    clipped into the class.

    Why, since version 8: the spread forecasts an event where it is fairly likely, which is
    right for the event and wrong for the amount; an upper quantile of the rain overstates
    it wherever the motion is uncertain, and a squared error pays for that most in heavy
    rain. The expected rain is the squared error's optimum. Kept within the class, every
    threshold's forecast area is the spread's, so its CSI is unchanged, and the rain in it
    is the expected one: on the tuning days it lowered the MSE at every lead on every family
    (to 0.83-0.95 of the quantile's on `spectral`), CSI unchanged (README, version 8).
    """
    import cv2

    from lakesight.radar_nowcast.encoding import pixel_to_rain, rain_to_level, threshold_pixel

    if not spread_px_per_step:
        return likely
    edges = np.asarray([threshold_pixel(t) for t in classes_mm_h], np.int32)
    out = np.empty_like(likely)
    for k, (lead, rain) in enumerate(zip(likely, pixel_to_rain(advected), strict=True)):
        sigma = spread_sigma_px(spread_px_per_step, at_issue_px, k + 1)
        expected = cv2.GaussianBlur(rain, (0, 0), sigma)
        level = np.rint(rain_to_level(expected)).astype(np.int32)
        # The class of a level: how many thresholds it reaches; its levels run from the
        # last threshold reached up to one below the next.
        reached = np.searchsorted(edges, lead, side="right")
        low = np.concatenate([[0], edges])[reached]
        high = np.concatenate([edges - 1, [255]])[reached]
        out[k] = np.clip(level, low, high).astype(np.uint8)
    return out


def retrace_errors(window: np.ndarray, sampling: str = LEGACY_SAMPLING,
                   candidates: list[np.ndarray] | None = None,
                   span: int | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:  # fmt: skip
    """``candidates`` (by default :func:`candidate_motions` of a window (T, H, W) uint8), and
    how well each retraces the window's own past: the squared error (C, H, W) of the frame
    ``span`` steps before the last (by default the first), advected ``span`` steps along it
    (sampled as ``sampling`` says), against the last frame. No errors when there is no
    choice to make."""
    from lakesight.radar_nowcast.baselines import departure_points

    candidates = candidate_motions(window) if candidates is None else candidates
    span = len(window) - 1 if span is None else min(span, len(window) - 1)
    if span < 1 or len(candidates) == 1:
        return candidates, None
    first, last = window[-1 - span].astype(np.float32), window[-1].astype(np.float32)
    errors = []
    for motion in candidates:
        *_, departure = departure_points(motion, span)
        errors.append((sample_frame_at(first, departure, sampling) - last) ** 2)
    return candidates, np.stack(errors)


def retrace_weights(errors: np.ndarray, temperature: float) -> np.ndarray:
    """How much each candidate weighs, region by region (C, H, W), from how well each
    retraced: its ``errors`` averaged over :data:`RETRACE_SIGMA_PX`, and a candidate whose
    error there exceeds the best by ``temperature`` times the best weighs 1/e as much."""
    import cv2

    local = np.stack([cv2.GaussianBlur(error, (0, 0), RETRACE_SIGMA_PX) for error in errors])
    best = local.min(axis=0)
    # The floor (1 pixel level squared) keeps clear air, where every error is ~0, an even mix.
    weights = np.exp(-(local - best) / (temperature * np.maximum(best, 1.0)))
    return weights / weights.sum(axis=0)


def retrace_weighted(candidates: list[np.ndarray], errors: np.ndarray,
                     temperature: float) -> np.ndarray:  # fmt: skip
    """The candidates' mean (H, W, 2), weighted region by region by :func:`retrace_weights`."""
    weights = retrace_weights(errors, temperature)
    return np.einsum("chw,chwv->hwv", weights, np.stack(candidates)).astype(np.float32)


def window_motion(window: np.ndarray, sampling: str = LEGACY_SAMPLING,
                  candidates: list[np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
    """The motion (H, W, 2) px/step of a window (T, H, W) uint8: of :func:`candidate_motions`,
    the one that best retraces the window's past over the whole window (least mean
    :func:`retrace_errors`): the motion that explains the window's own past."""
    candidates, errors = retrace_errors(window, sampling, candidates)
    if errors is None:
        return candidates[0]
    return candidates[int(np.argmin([float(np.mean(error)) for error in errors]))]


def regional_motion(window: np.ndarray, sampling: str = LEGACY_SAMPLING,
                    candidates: list[np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
    """The motion (H, W, 2) px/step of a window (T, H, W) uint8, chosen region by region:
    :func:`window_motion`'s rule applied to each neighbourhood. Each candidate's
    :func:`retrace_errors`, averaged over :data:`RETRACE_SIGMA_PX`, says how well it
    retraces the past *there*; the motion is the candidates' mean weighted by
    ``exp(-(error - best) / (RETRACE_TEMPERATURE * best))``.

    Why: one storm's motion is not its neighbour's. On a veering squall line the corners'
    motion retraces the line while the DIS field retraces the showers beside it, and one
    choice per window gives one of them the other's motion.
    """
    candidates, errors = retrace_errors(window, sampling, candidates)
    if errors is None:
        return candidates[0]
    return retrace_weighted(candidates, errors, RETRACE_TEMPERATURE)


def last_step_motion(window: np.ndarray, sampling: str = LEGACY_SAMPLING,
                     candidates: list[np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
    """The motion (H, W, 2) px/step that holds *now*: of :func:`candidate_motions` and the flow
    baseline's own DIS field (:func:`~lakesight.radar_nowcast.baselines.motion_field`,
    not carried into clear air), region by region the one that best retraces the window's
    last step (:func:`retrace_weighted` at :data:`LAST_STEP_TEMPERATURE`).

    Why, since version 7: the window's motion (:func:`regional_motion`) retraces four steps,
    so it is the motion that persists, which is what the later leads need. The first leads
    need the one that holds now. On the tuning days (seed 7), advection along it, uncorrected,
    placed +6 to +18 at least as well as version 6 on every family (CSI at 2 mm/h +0.005 to
    +0.019 on `spectral` and `hko_like`, within 0.002 on `squall`), and `spectral`'s first
    lead above flow's at 2, 5 and 10 mm/h, where version 6 was 0.009-0.019 below (README,
    version 7).
    """
    from lakesight.radar_nowcast.baselines import motion_field

    candidates = candidate_motions(window) if candidates is None else candidates
    candidates = [*candidates, motion_field(window[-HISTORY:])]
    _, errors = retrace_errors(window, sampling, candidates, span=1)
    if errors is None:
        return candidates[0]
    return retrace_weighted(candidates, errors, LAST_STEP_TEMPERATURE)


def advected_last_frame(window: np.ndarray, motion: np.ndarray, leads: int,
                        sampling: str = LEGACY_SAMPLING) -> np.ndarray:  # fmt: skip
    """The window's last frame advected along ``motion`` to each lead: (leads, H, W) in 0..1,
    channel 0 of :func:`moving_frame_inputs` without the tendencies."""
    from lakesight.radar_nowcast.baselines import departure_points

    last = window[-1].astype(np.float32) / np.float32(255.0)
    return np.stack([sample_frame_at(last, points, sampling, full_scale=1.0)
                     for points in departure_points(motion, leads)])  # fmt: skip


def growth_persistence(window: np.ndarray, motion: np.ndarray,
                       sampling: str = LEGACY_SAMPLING) -> float:  # fmt: skip
    """Whether the window's growth and decay persists: the correlation, over its echo, of
    what each pixel gained in the moving frame over the last step with what it gained over
    the step before (each smoothed over :data:`GROWTH_SMOOTH_PX`). 0 with too little echo.

    Why: the correction extrapolates growth and decay, which only works where they persist.
    On the tuning days (seed 7) the median is 0.59 on `hko_like`, whose cells grow and decay
    over their lives, and 0.04 on `spectral`, whose random field grows and decays at random;
    their quartiles do not overlap (0.39-0.71 against -0.07-0.15). Since version 9 it decides
    how many leads a window runs uncorrected (a card's ``growth_persists_from``).
    """
    import cv2

    from lakesight.radar_nowcast.baselines import departure_points

    frames = window[-HISTORY:].astype(np.float32) / np.float32(255.0)
    one, two = departure_points(motion, 2)
    now = frames[-1]
    before = sample_frame_at(frames[-2], one, sampling, full_scale=1.0)
    earlier = sample_frame_at(frames[-3], two, sampling, full_scale=1.0)
    echo = (now > 0) | (before > 0)
    if echo.sum() < 10:
        return 0.0
    smooth = lambda a: cv2.GaussianBlur(a, (0, 0), GROWTH_SMOOTH_PX)[echo]  # noqa: E731
    last, previous = smooth(now - before), smooth(before - earlier)
    last, previous = last - last.mean(), previous - previous.mean()
    spread = float(np.sqrt((last * last).sum() * (previous * previous).sum()))
    return float((last * previous).sum()) / spread if spread > 1e-12 else 0.0


def ensemble_advection(window: np.ndarray, candidates: list[np.ndarray], leads: int,
                       sampling: str = LEGACY_SAMPLING) -> np.ndarray:  # fmt: skip
    """The last frame advected along each of ``candidates``, averaged region by region with
    the weights of :func:`regional_motion` (:func:`retrace_weights`): (leads, H, W) in 0..1.

    Why: :func:`regional_motion` moves the frame along the candidates' mean motion, one bet
    on where the rain goes. The mean of the frames moved along each is the expected rain
    under the motion's uncertainty: where the candidates disagree, rain is spread over where
    each would put it. It lowers MSE from +24 on `spectral` on every set of days measured,
    and it blurs the heavy cores the correction keeps on `hko_like`, hence the gate on
    growth persistence; at the later leads it also costs CSI on two of three sets of days
    (README, radar section).
    """
    _, errors = retrace_errors(window, sampling, candidates)
    members = np.stack([advected_last_frame(window, c, leads, sampling) for c in candidates])
    if errors is None:
        return members[0]
    weights = retrace_weights(errors, RETRACE_TEMPERATURE)
    return np.einsum("chw,clhw->lhw", weights, members).astype(np.float32)


def held_in_heavy_class(run, from_mm_h: float | None):
    """``run`` (moving (N, 4, H, W) → [correction (N, 1, H, W)]) with its correction kept from
    taking a pixel advected at or above ``from_mm_h`` below that rate; ``run`` itself when
    ``from_mm_h`` is None.

    Why, since version 11: the correction is the change of rain to expect, and heavy cores
    decay on average, so it weakens them; but whether a core stays heavy is an event of low
    skill, forecast where its chance clears a low cut (:func:`spread_cuts`: 15-27% at 30 mm/h
    from +18), and a core expected to weaken keeps such a chance. Let through, the correction
    took heavy rain away: CSI at 30 mm/h on `hko_like` at +30 fell from 0.079 to 0.071 on the
    eval's days, where flow's was 0.086. Held, its amount still falls within the class. On
    the tuning days it raised `spectral`'s CSI at 30 mm/h from +42 by 0.006-0.009 (three
    cells above flow's); holding the rain where it was (no decay at all) did the same for up
    to 30% more MSE on `hko_like` (README, version 11).
    """
    if from_mm_h is None:
        return run
    from lakesight.radar_nowcast.encoding import threshold_pixel

    heavy = np.float32(threshold_pixel(from_mm_h) / 255.0)

    def held(moving: np.ndarray) -> list[np.ndarray]:
        (correction,) = run(moving)
        advected = moving[:, :1]
        lowest = np.where(advected >= heavy, heavy - advected, -np.inf).astype(np.float32)
        return [np.maximum(correction, lowest)]

    return held


def hindcast_gate(window: np.ndarray, run, outputs: int, method: str,
                  sampling: str = LEGACY_SAMPLING) -> np.ndarray:  # fmt: skip
    """Where the correction has earned its place: a weight (H, W) in 0..1 for one window
    (T, H, W) uint8.

    The window's last :data:`HINDCAST_LEADS` frames are forecast from the frames before
    them, by advection alone and with the correction (``run``, the network; ``outputs``, the
    leads it was trained for; ``method`` and ``sampling``, its motion and sampling). Where the corrected hindcast's
    squared rain-rate error, averaged over :data:`GATE_SIGMA_PX`, is the lower, the weight
    is 1, elsewhere 0, the edge softened over half that width.

    Why: the correction learned the growth and decay of the weather it was trained on. On
    other weather (a random growth and decay, a texture it reads as growth) it costs CSI at
    every lead (README, radar section); the recent past says which weather this is, region
    by region. A window too short for a hindcast keeps the correction everywhere.
    """
    import cv2

    from lakesight.radar_nowcast.encoding import pixel_to_rain

    past, observed = window[:-HINDCAST_LEADS], window[-HINDCAST_LEADS:]
    if len(past) < HISTORY:
        return np.ones(window.shape[1:], np.float32)
    # The motion measured again, on the past alone: the hindcast is the forecast issued
    # then. The window's own motion (half the cost) has seen the frames it hindcasts; it
    # lowered CSI and raised MSE on hko_like (README, radar section).
    moving = moving_frame_inputs(past, HINDCAST_LEADS, method=method, sampling=sampling)
    # The network knows a lead as k / outputs (its training's T_out), not k / HINDCAST_LEADS.
    moving[:, 3] = (np.arange(1, HINDCAST_LEADS + 1, dtype=np.float32) / outputs)[:, None, None]
    advected = moving[:, 0]
    corrected = np.clip(advected + run(moving)[0][:, 0], 0.0, 1.0)
    observed_rain = pixel_to_rain(observed)

    def local_error(forecast: np.ndarray) -> np.ndarray:
        rain = pixel_to_rain(np.rint(forecast * np.float32(255.0)).astype(np.uint8))
        squared = ((rain - observed_rain) ** 2).sum(axis=0).astype(np.float32)
        return cv2.GaussianBlur(squared, (0, 0), GATE_SIGMA_PX)

    better = (local_error(corrected) < local_error(advected)).astype(np.float32)
    return cv2.GaussianBlur(better, (0, 0), GATE_SIGMA_PX / 2)


def dense_echo_motion(window: np.ndarray, sampling: str = LEGACY_SAMPLING,
                      candidates: list[np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
    """The DIS motion of the window's last frames, carried from the echo into clear air: the
    first of ``candidates`` when they are given. Nothing is retraced, so ``sampling`` (the
    other motions' argument) does not enter."""
    from lakesight.radar_nowcast.baselines import motion_field

    if candidates is not None:
        return candidates[0]
    frames = window[-HISTORY:]
    return echo_motion(motion_field(frames), frames[-1] > 0)


def candidate_motions(window: np.ndarray) -> list[np.ndarray]:
    """The dense DIS motion of the echo, then the tracked motion at each width of
    :data:`TRACK_SIGMAS_PX` (none where fewer than 2 corners were tracked)."""
    frames = window[-HISTORY:]
    dense = dense_echo_motion(window)
    points, vectors = tracked_vectors(frames)
    if len(points) < 2:
        return [dense]
    return [dense, *(tracked_motion(points, vectors, dense.shape[:2], s) for s in TRACK_SIGMAS_PX)]


def tracked_vectors(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sparse motion of ``frames`` (T, H, W) uint8: corners of each frame (Shi-Tomasi)
    followed into the next by pyramidal Lucas-Kanade, pooled over the pairs; vectors
    beyond 3 robust standard deviations of the median are dropped. (points, vectors)
    float32 (N, 2) as (x, y) and (dx, dy) per step."""
    import cv2

    points, vectors = [], []
    for older, newer in itertools.pairwise(frames):
        corners = cv2.goodFeaturesToTrack(older, maxCorners=1000, qualityLevel=0.01,
                                          minDistance=3, blockSize=7)  # fmt: skip
        if corners is None:
            continue
        moved, found, _ = cv2.calcOpticalFlowPyrLK(
            older, newer, corners, None, winSize=(TRACK_WINDOW_PX,) * 2, maxLevel=3
        )
        found = found[:, 0] == 1
        points.append(corners[found, 0])
        vectors.append((moved - corners)[found, 0])
    if not points:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    points, vectors = np.concatenate(points), np.concatenate(vectors)
    deviation = np.linalg.norm(vectors - np.median(vectors, axis=0), axis=1)
    keep = deviation <= max(3 * 1.4826 * float(np.median(deviation)), 0.5)
    return points[keep], vectors[keep]


def tracked_motion(points: np.ndarray, vectors: np.ndarray, shape: tuple[int, int],
                   sigma: float) -> np.ndarray:  # fmt: skip
    """Sparse vectors spread over a grid of ``shape`` by a normalised Gaussian convolution
    of width ``sigma`` px; beyond the vectors' reach, their mean."""
    import cv2

    height, width = shape
    numerator = np.zeros((height, width, 2), np.float32)
    density = np.zeros((height, width), np.float32)
    x = np.clip(np.rint(points[:, 0]).astype(int), 0, width - 1)
    y = np.clip(np.rint(points[:, 1]).astype(int), 0, height - 1)
    np.add.at(numerator, (y, x), vectors)
    np.add.at(density, (y, x), 1.0)
    blur = lambda a: cv2.GaussianBlur(a, (0, 0), sigma)  # noqa: E731
    numerator = np.dstack([blur(numerator[..., i]) for i in range(2)])
    density = blur(density)[..., None]
    spread = numerator / np.maximum(density, 1e-4)
    return np.where(density > 1e-4, spread, vectors.mean(axis=0)).astype(np.float32)


def echo_motion(flow: np.ndarray, echo: np.ndarray) -> np.ndarray:
    """The motion of the echo, everywhere: a normalised convolution of ``flow`` (H, W, 2)
    weighted by ``echo`` (Gaussian, :data:`MOTION_SIGMA_PX`), so each pixel gets the
    motion of the echo near it; beyond any echo's reach, the echo's mean motion."""
    import cv2

    weight = echo.astype(np.float32)
    if not weight.any():
        return flow
    blur = lambda a: cv2.GaussianBlur(a, (0, 0), MOTION_SIGMA_PX)  # noqa: E731
    numerator = np.dstack([blur(flow[..., i] * weight) for i in range(2)])
    density = blur(weight)[..., None]
    mean = flow[echo].mean(axis=0)
    reached = density > 1e-3
    return np.where(reached, numerator / np.maximum(density, 1e-3), mean).astype(np.float32)


MOTIONS = {"regional": regional_motion, "retraced": window_motion, "echo_dis": dense_echo_motion}


def build_network(config: AdvectionConfig):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class MovingFrameResidual(nn.Module):
        """``[A, dA, dB, k/K]`` → the correction to add to ``A`` (zero at initialisation).

        The correction is computed at half resolution and smoothed back up, so it can
        grow or decay the echo but not redraw its texture, and it is bounded (tanh) to
        :data:`MAX_CORRECTION`: a change of rain, not rain from the network's imagination.
        """

        def __init__(self) -> None:
            super().__init__()
            h, b = config.head, config.body
            self.down = nn.Conv2d(CHANNELS, h, 3, stride=2, padding=1)
            self.body = nn.Sequential(
                nn.Conv2d(h, b, 3, padding=1), nn.ReLU(),
                nn.Conv2d(b, b, 3, padding=2, dilation=2), nn.ReLU(),
                nn.Conv2d(b, b, 3, padding=4, dilation=4), nn.ReLU(),
            )  # fmt: skip
            self.out = nn.Conv2d(b, 1, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

        def forward(self, moving: torch.Tensor) -> torch.Tensor:
            coarse = self.out(self.body(F.relu(self.down(moving))))
            correction = MAX_CORRECTION * torch.tanh(
                F.interpolate(coarse, size=moving.shape[-2:], mode="bilinear", align_corners=False)
            )
            # Rain grows and decays where rain is (or at its edge, REACH px out); new cells
            # out of clear air are not predictable at these leads, and a correction there
            # would only learn the training generator's background.
            echo = (moving[:, :1] > 0).to(moving.dtype)
            return correction * F.max_pool2d(echo, 2 * REACH + 1, stride=1, padding=REACH)

    return MovingFrameResidual()


@dataclass
class AdvectionNowcaster:
    """A registry ``advection_residual`` model: the same interface as the grid nowcaster."""

    name: str  # name@version
    inputs: int
    outputs: int
    cadence_min: int
    run: object  # moving (N, 4, H, W) float32 -> [correction (N, 1, H, W)]
    echo_floor: int = 1
    motion: str = "retraced"  # the card's model_config.motion: how it was trained
    gate: str = LEGACY_GATE  # the card's model_config.gate: where the correction applies
    sampling: str = LEGACY_SAMPLING  # the card's model_config.sampling
    spread_px_per_step: float = LEGACY_SPREAD  # the card's model_config.spread_px_per_step
    spread_px_at_issue: float = 0.0  # the card's model_config.spread_px_at_issue
    spread_probability: float = AdvectionConfig.spread_probability  # and its cut
    spread_skill: dict | None = None  # the card's model_config.spread_skill (None: one cut)
    spread_floor: float = SPREAD_FLOOR
    short_leads: int = LEGACY_SHORT_LEADS  # the card's model_config.short_leads
    ensemble_below: float | None = None  # the card's model_config.ensemble_below
    within_class: str = LEGACY_WITHIN_CLASS  # the card's model_config.within_class
    growth_persists_from: float | None = None  # the card's model_config.growth_persists_from
    short_leads_where_growth_persists: int = SHORT_LEADS_WHERE_GROWTH_PERSISTS  # and its leads
    heavy_rain_held_from_mm_h: float | None = None  # the card's model_config field of that name

    @functools.cached_property
    def correction(self):
        """The network, its correction held as the card says (:func:`held_in_heavy_class`)."""
        return held_in_heavy_class(self.run, self.heavy_rain_held_from_mm_h)

    @functools.cached_property
    def spread_cuts(self) -> np.ndarray:
        return spread_cuts(self.spread_skill, self.outputs, self.spread_probability,
                           self.spread_floor)  # fmt: skip

    @property
    def leads_min(self) -> list[int]:
        return [self.cadence_min * (k + 1) for k in range(self.outputs)]

    def predict(self, windows: np.ndarray, batch: int = 1, *, corrected: bool = True) -> np.ndarray:
        """Input windows (B, T_in, H, W) uint8 → forecasts (B, T_out, H, W) uint8.

        ``corrected=False`` leaves the network, the ensemble and the spread out: the last
        frame advected along the model's own motions, what the correction starts from (the
        eval scores both, so what the model adds to its advection is measured on every
        family).
        """
        b, t, h, w = windows.shape
        if t != self.inputs:
            raise ValueError(f"{self.name} takes {self.inputs} frames, got {t}")
        out = np.zeros((b, self.outputs, h, w), np.uint8)
        for i, window in enumerate(windows):
            if window[-1].any():
                forecast = self.forecast(window, corrected) * np.float32(255.0)
                out[i] = np.rint(forecast).astype(np.uint8)
            if corrected:
                out[i] = self.spread(out[i])
        return out

    def spread(self, forecast: np.ndarray) -> np.ndarray:
        """A window's forecast (leads, H, W) uint8 as the card forecasts it under the motion's
        error: each pixel's class the rain likely reaches (:func:`likely_rain`), and within it
        the card's ``within_class`` value (:func:`expected_within_classes`)."""
        from lakesight.radar_nowcast.encoding import THRESHOLDS_MM_H

        likely = likely_rain(forecast, self.spread_px_per_step, self.spread_cuts,
                             self.spread_px_at_issue)  # fmt: skip
        if self.within_class == "likely":
            return likely
        # The classes are the thresholds the spread's cut was chosen for.
        classes = self.spread_skill["rain_mm_h"] if self.spread_skill else THRESHOLDS_MM_H
        return expected_within_classes(likely, forecast, self.spread_px_per_step, classes,
                                       self.spread_px_at_issue)  # fmt: skip

    def forecast(self, window: np.ndarray, corrected: bool = True) -> np.ndarray:
        """One window (T_in, H, W) uint8 with echo → its forecast (T_out, H, W) in 0..1, before
        the spread."""
        candidates = candidate_motions(window)  # measured once for every motion below
        motion = MOTIONS[self.motion](window, self.sampling, candidates)
        persistence = functools.cache(lambda: growth_persistence(window, motion, self.sampling))
        short = self.short_leads
        if self.growth_persists_from is not None and persistence() >= self.growth_persists_from:
            short = self.short_leads_where_growth_persists
        short = min(short, self.outputs)
        moving = moving_frame_inputs(window, self.outputs, motion, sampling=self.sampling)
        advected = moving[:, 0]
        if short:
            now = last_step_motion(window, self.sampling, candidates)
            # One lead more than the short ones: the ensemble's handover lead needs it.
            along_now = advected_last_frame(window, now, min(short + 1, self.outputs),
                                            self.sampling)  # fmt: skip
            advected[:short] = along_now[:short]
        if not corrected or short == self.outputs:
            return np.clip(advected, 0.0, 1.0)
        if self.ensemble_below is not None and persistence() < self.ensemble_below:
            later = ensemble_advection(window, candidates, self.outputs, self.sampling)
            advected[short:] = later[short:]
            if short:  # the handover: the last step's motion still counts for one lead
                advected[short] = (along_now[short] + later[short]) / 2
            return np.clip(advected, 0.0, 1.0)
        correction = np.zeros_like(advected)
        # The short leads are advection alone: the network runs on the others.
        correction[short:] = self.correction(moving[short:])[0][:, 0]
        if self.gate == "hindcast":
            correction *= hindcast_gate(window, self.correction, self.outputs, self.motion,
                                        self.sampling)  # fmt: skip
        return np.clip(advected + correction, 0.0, 1.0)
