"""radar_nowcast's pictures: rain rates in their bin's colour, panels laid out as promised, CSI lines."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lakesight.radar_nowcast.encoding import THRESHOLDS_MM_H, rain_to_pixel
from lakesight.radar_nowcast.pictures import (
    GAP,
    HEADER_H,
    LABEL_W,
    LEGEND_H,
    LEGEND_W,
    NO_ECHO,
    NOT_OBSERVED,
    RAIN_BINS,
    TITLE_H,
    colourise,
    csi_plot,
    forecast_panels,
    legend_bins,
    model_colours,
)

pytestmark = pytest.mark.unit

BIN = dict(RAIN_BINS)  # lower edge (mm/h) -> colour


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def pixel(rain_mm_h: float) -> int:
    return int(rain_to_pixel(np.float32(rain_mm_h)))


def test_colourise_maps_no_echo_to_the_background_and_a_rain_rate_to_its_bin():
    frame = np.array([[0, pixel(3.0)], [pixel(0.05), pixel(60.0)]], np.uint8)
    rgb = colourise(frame)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == NO_ECHO
    assert tuple(rgb[0, 1]) == BIN[2.0]  # 3 mm/h is in the 2-5 bin
    assert tuple(rgb[1, 0]) == NO_ECHO  # below 0.1 mm/h
    assert tuple(rgb[1, 1]) == BIN[50.0]


def test_every_verification_threshold_is_a_colour_edge():
    edges = [lower for lower, _ in RAIN_BINS]
    assert set(THRESHOLDS_MM_H) <= set(edges)
    # Pixels are coarse (about 0.27 dBZ), so go from a rate just below the edge to just above.
    for t in THRESHOLDS_MM_H:
        below, above = colourise(np.array([[pixel(t * 0.95), pixel(t * 1.05)]], np.uint8))[0]
        assert tuple(above) == BIN[t] and tuple(below) != BIN[t]
    assert len(legend_bins()) == len(RAIN_BINS) + 1 and legend_bins()[0][1] == NO_ECHO


def test_colourise_rejects_a_frame_that_is_not_2d_uint8():
    with pytest.raises(ValueError, match="uint8"):
        colourise(np.zeros((4, 4), np.float32))


def test_forecast_panels_lays_out_leads_by_observed_and_model_rows():
    leads, tile, size = [6, 12, 18], 64, 32
    observed = [np.zeros((size, size), np.uint8), None, None]
    flow = np.zeros((3, size, size), np.uint8)
    flow[1, size // 2 :, : size // 2] = pixel(3.0)  # +12 min, bottom-left quadrant
    forecasts = {"persistence": np.zeros((3, size, size), np.uint8), "flow": flow}
    image = decode(forecast_panels("2026-05-01T12:00", leads, observed, forecasts, tile=tile))

    step = tile + GAP
    assert image.shape[:2] == (TITLE_H + HEADER_H + 3 * step + LEGEND_H, LEGEND_W)
    top = TITLE_H + HEADER_H  # the observed row
    assert tuple(image[top + 2, LABEL_W + step + 2]) == NOT_OBSERVED  # +12 min not observed
    assert tuple(image[top + 2, LABEL_W + 2]) == NO_ECHO  # +6 min observed, dry
    flow_top = top + 2 * step
    assert tuple(image[flow_top + 3 * tile // 4, LABEL_W + step + tile // 4]) == BIN[2.0]
    assert tuple(image[flow_top + tile // 4, LABEL_W + step + tile // 4]) == NO_ECHO


def test_forecast_panels_size_for_ten_leads_three_models_and_an_input_row():
    leads, tile = list(range(6, 61, 6)), 96
    frames = np.zeros((10, 16, 16), np.uint8)
    forecasts = {m: frames for m in ("convlstm_radar@1", "persistence", "flow")}
    plain = decode(forecast_panels("t", leads, [None] * 10, forecasts, tile=tile))
    assert plain.shape[:2] == (TITLE_H + HEADER_H + 4 * 98 + LEGEND_H, LABEL_W + 10 * 98)
    inputs = np.full((5, 16, 16), pixel(0.7), np.uint8)
    with_inputs = decode(
        forecast_panels("t", leads, [None] * 10, forecasts, tile=tile, inputs=inputs)
    )
    assert with_inputs.shape[0] == plain.shape[0] + HEADER_H + 98
    assert tuple(with_inputs[TITLE_H + HEADER_H + 2, LABEL_W + 2]) == BIN[0.5]


def test_forecast_panels_names_the_lead_count_mismatch():
    with pytest.raises(ValueError, match="flow"):
        forecast_panels("t", [6, 12], [None, None], {"flow": np.zeros((1, 8, 8), np.uint8)})


SUMMARY = {
    "leads_min": [6, 12, 18, 24],
    "csi": {
        "convlstm_radar@1": {"0.5": [0.8, 0.7, None, 0.5], "2": [0.6, 0.5, 0.4, 0.3]},
        "persistence": {"0.5": [0.7, 0.6, 0.5, 0.4], "2": [None, None, None, None]},
        "flow": {"0.5": [0.75, None, 0.55, float("nan")], "2": [0.5, 0.4, 0.3, 0.2]},
    },
}


def test_model_colours_are_distinct_even_when_label_colours_collide():
    colours = model_colours(list(SUMMARY["csi"]))
    assert len(set(colours.values())) == 3  # convlstm_radar@1 and flow share a label_colour


def test_csi_plot_draws_each_model_line_inside_the_first_panel():
    size = (280, 200)
    image = decode(csi_plot(SUMMARY, size=size))
    assert image.shape[1] == 2 * size[0]  # two thresholds side by side
    panel = image[: size[1], : size[0]].reshape(-1, 3)
    for model, colour in model_colours(list(SUMMARY["csi"])).items():
        assert (panel == colour).all(axis=1).sum() > 20, model


def test_csi_plot_handles_a_single_lead_and_a_chosen_threshold():
    summary = {"leads_min": [30], "csi": {"persistence": {"5": [0.4], "10": [None]}}}
    image = decode(csi_plot(summary, thresholds=["5"], size=(200, 150)))
    assert image.shape[1] == 200
    colour = model_colours(["persistence"])["persistence"]
    assert (image[:150].reshape(-1, 3) == colour).all(axis=1).sum() > 10  # the lone marker
