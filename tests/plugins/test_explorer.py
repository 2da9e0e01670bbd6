"""The explorer in the Airflow UI: the real api-server with the plugin, SimpleAuthManager with a
known password, and a real headless Chromium that logs in, opens every view through the UI's
navigation, clicks images, forecasts and photos, and reads what the pages show. Plus the
security checks: no token → 401, malformed or outside-the-lake parameters → 400/404, file
names with HTML in them escaped. Screenshots go to ``var/screenshots/``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lakesight.config import REPO_ROOT
from lakesight.house_similarity import embed, ingest, publish, train
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.image_features import analyze
from lakesight.image_features import ingest as image_ingest
from lakesight.image_features import publish as image_publish
from lakesight.image_features.sample_data import write_images_partition
from lakesight.image_features.similar import load_features
from lakesight.lake import LocalFileSystem, uri_path
from lakesight.listing_recs import ingest as recs_ingest
from lakesight.listing_recs import recommend
from lakesight.listing_recs import train as recs_train
from lakesight.listing_recs.sample_data import write_sample_interactions
from lakesight.progress import Steps
from lakesight.radar_nowcast import forecast, verify
from lakesight.radar_nowcast import ingest as radar_ingest
from lakesight.radar_nowcast.sample_data import write_sample_radar
from lakesight_airflow.explorer import house_similarity as houses_view
from lakesight_airflow.explorer import image_features as images_view
from lakesight_airflow.explorer import listing_recs as recs_view
from tests.support.airflow_server import USER, AirflowServer
from tests.support.lakes import scratch_lake

pytestmark = [pytest.mark.spark, pytest.mark.airflow, pytest.mark.e2e, pytest.mark.slow]
DT = "2026-11-01"
QUIET = Steps("test", quiet=True)
HOSTILE_NAME = "<b>bold<i>x.png"  # markup that would render if a page forgot to escape it
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
WAIT_S = 90


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A day of every pipeline, published by the real stages; one image named with HTML."""
    with scratch_lake(tmp_path_factory.mktemp("explorer")) as (settings, registry, _):
        fs = LocalFileSystem()
        write_images_partition(fs, settings, DT, n=14, bad=2, seed=41)
        day = Path(uri_path(settings.partition_uri("raw", "images", DT)))
        first = sorted(p for p in day.rglob("*.png") if p.is_file())[0]
        (day / "odd").mkdir(exist_ok=True)
        # A new image (mirrored, so not a duplicate) under a name with HTML in it.
        Image.open(first).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            day / "odd" / HOSTILE_NAME
        )
        ingested = image_ingest.run(spark, settings, DT, steps=QUIET)
        for stage in (analyze, image_publish):
            stage.run(spark, settings, DT, steps=QUIET)
        write_sample_radar(fs, settings, DT, size=64, end=120)
        for stage in (radar_ingest, forecast, verify):
            stage.run(spark, settings, DT, steps=QUIET)
        listings = write_sample_listings(fs, settings, DT, n=8)
        for stage in (ingest, embed, train, publish):
            stage.run(spark, settings, DT, steps=QUIET)
        write_sample_interactions(fs, settings, DT, per_day=8, market_days=1)
        recs_ingest.run(spark, settings, DT, steps=QUIET)
        recs_train.run(spark, settings, DT, steps=QUIET, epochs=2)
        recommend.run(spark, settings, DT, steps=QUIET)
        yield settings, registry, listings, ingested.manifest.counts


@pytest.fixture(scope="module")
def airflow(lake, tmp_path_factory, airflow_database):
    settings, registry, *_ = lake
    env = {"LAKESIGHT_ROOT": settings.root, "LAKESIGHT_MODEL_REGISTRY": registry.as_uri()}
    home = tmp_path_factory.mktemp("airflow")
    with AirflowServer(home, env=env, database=airflow_database()) as server:
        yield server


@pytest.fixture(scope="module")
def browser(airflow):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no chromium/chromedriver: apt-get install chromium chromium-driver "
                    "(make test does where it may)")  # fmt: skip
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # Headless, as root, and quiet on a machine that reaches no network but the registries.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.set_page_load_timeout(WAIT_S)
    try:
        yield chrome
    finally:
        chrome.quit()


def wait(browser, condition, what: str):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page replaced between finding an element and reading it leaves a stale reference:
    # that is "not yet", like an element not found, so the wait polls again.
    not_yet = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(browser, WAIT_S, poll_frequency=0.3, ignored_exceptions=not_yet).until(
        condition, message=what
    )


def click_until(browser, selector: str, done, what: str) -> None:
    """Click the element ``selector`` finds, again every few seconds, until ``done``."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            for element in browser.find_elements(By.CSS_SELECTOR, selector)[:1]:
                element.click()
        except WebDriverException:  # re-rendered or covered while we clicked: try again
            pass
        settle = time.monotonic() + 5
        while time.monotonic() < settle:
            if done(browser):
                return
            time.sleep(0.3)
    screenshot(browser, "failed-" + what.split()[0])
    raise AssertionError(f"timed out waiting for {what} (at {browser.current_url})")


def screenshot(browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"explorer-{name}.png"
    browser.save_screenshot(str(path))
    return path


def css(browser, selector: str):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, selector)


def in_frame(browser):
    """Switch into the UI's plugin iframe once it shows the explorer."""
    from selenium.webdriver.common.by import By

    browser.switch_to.default_content()
    frame = wait(browser, lambda b: b.find_element(By.TAG_NAME, "iframe"), "the plugin iframe")
    browser.switch_to.frame(frame)
    wait(browser, lambda b: b.find_elements(By.ID, "title"), "the explorer's page in the iframe")


def click_and_wait(browser, element, title_contains: str):
    from selenium.webdriver.common.by import By

    element.click()
    wait(browser, lambda b: title_contains in b.find_element(By.ID, "title").text,
         f"a page titled {title_contains!r}")  # fmt: skip


def loaded(browser, selector: str) -> bool:
    """Every image matching ``selector`` has arrived and decoded."""
    return browser.execute_script(
        "const imgs = [...document.querySelectorAll(arguments[0])];"
        "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);",
        selector,
    )


# --------------------------------------------------------------------------- security


def test_without_a_valid_token_every_route_answers_401(lake, airflow):
    for path in ("/lakesight/", f"/lakesight/images/{DT}", "/lakesight/radar",
                 f"/lakesight/houses/{DT}", "/lakesight/dags/image_features"):  # fmt: skip
        assert httpx.get(airflow.url + path).status_code == 401, path
        forged = httpx.get(airflow.url + path, headers={"Authorization": "Bearer x.y.z"})
        assert forged.status_code == 401, path
    page = httpx.get(airflow.url + "/lakesight/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "/api/v2/auth/login?next=" in page.text
    assert airflow.client.get("/lakesight/").status_code == 200


# Malformed: 400; well-formed but not in the lake: 404; a traversal is one or the other
# (the server may decode %2F before routing), never a file.
MALFORMED, ABSENT, EITHER = (400,), (404,), (400, 404)


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/lakesight/images/2026-13-01", MALFORMED),
        ("/lakesight/images/yesterday", MALFORMED),
        ("/lakesight/images/..%2F..%2Fetc%2Fpasswd", EITHER),
        ("/lakesight/images/2026-11-01/..%2F..%2Fetc%2Fpasswd", EITHER),
        (f"/lakesight/images/{DT}/not-a-sha256", MALFORMED),
        (f"/lakesight/images/{DT}/{'0' * 64}", ABSENT),
        (f"/lakesight/images/{DT}/{'0' * 64}/detections.png", ABSENT),
        (f"/lakesight/images/{DT}/{'0' * 64}/passwd.png", ABSENT),
        (f"/lakesight/images/{DT}?page=0", MALFORMED),
        (f"/lakesight/images/{DT}?page=999", ABSENT),
        ("/lakesight/images/2030-01-01", ABSENT),
        (f"/lakesight/partitions/raw/images/{DT}", ABSENT),
        (f"/lakesight/partitions/..%2F..%2Fetc/passwd/{DT}", EITHER),
        (f"/lakesight/partitions/curated/../../etc/{DT}", EITHER),
        (f"/lakesight/radar/{DT}?issued=25:99", ABSENT),
        (f"/lakesight/radar/{DT}?issued=%3Cscript%3E", MALFORMED),
        (f"/lakesight/radar/{DT}/panels.png?issued=../x", MALFORMED),
        (f"/lakesight/houses/{DT}/photos/{'f' * 64}", ABSENT),
        (f"/lakesight/houses/{DT}/photos/%3Cb%3E", MALFORMED),
        ("/lakesight/dags/not_a_pipeline", ABSENT),
    ],
)
def test_bad_parameters_are_400_or_404(airflow, path, statuses):
    response = airflow.client.get(path)
    assert response.status_code in statuses, response.text
    assert "root:" not in response.text  # never a file's content


def test_an_upload_that_is_no_image_is_refused_with_its_reason(airflow):
    response = airflow.client.post(
        f"/lakesight/images/{DT}/search", files={"image": ("x.pdf", b"%PDF-1.4 not an image")}
    )
    assert response.status_code == 415 and "not_an_image" in response.json()["detail"]


def test_names_with_html_are_escaped(lake, airflow):
    page = airflow.client.get(f"/lakesight/images/{DT}", headers={"Accept": "text/html"}).text
    assert "&lt;b&gt;bold&lt;i&gt;x.png" in page
    assert HOSTILE_NAME not in page


# --------------------------------------------------------------------------- browser


def test_log_in_and_open_the_overview_from_the_navigation(lake, airflow, browser):
    from selenium.webdriver.common.by import By

    *_, ingested = lake

    browser.get(f"{airflow.url}/auth/login")
    wait(browser, lambda b: b.find_elements(By.NAME, "username"), "the login form")
    browser.find_element(By.NAME, "username").send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(airflow.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser, lambda b: "/auth/login" not in b.current_url, "the UI after login")
    # The UI renders its navigation, then renders it again once the plugins are listed:
    # click the item until the page it leads to is there.
    click_until(browser, "a[href$='plugin/lakesight']",
                lambda b: b.current_url.endswith("/plugin/lakesight"),
                "lakesight in the UI's navigation leading to its page")  # fmt: skip
    in_frame(browser)
    sections = {s.get_attribute("id") for s in css(browser, "section")}
    assert sections == {"image_features", "radar_nowcast", "house_similarity", "listing_recs"}
    rows = css(browser, "tr.partition[data-stage='image_features.ingest']")
    counts = rows[0].find_element(By.CLASS_NAME, "counts").text
    assert (
        f"in {ingested['in']}, out {ingested['out']}, quarantined {ingested['quarantined']}"
        in counts
    )
    browser.switch_to.default_content()
    screenshot(browser, "overview")
    # The day's quarantine: every record with its reason and path.
    in_frame(browser)
    click_and_wait(browser, rows[0].find_element(By.LINK_TEXT, "quarantine"), "quarantine/images")
    quarantined = css(browser, "#quarantine tr.quarantined")
    assert len(quarantined) == ingested["quarantined"] >= 2
    assert all(row.text.split()[0] and "raw/images" in row.text for row in quarantined)
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "lakesight"), "lakesight")


def test_image_features_grid_image_neighbours_and_upload(lake, airflow, browser, tmp_path):
    from selenium.webdriver.common.by import By

    settings, *_ = lake
    in_frame(browser)
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "image_features"), "image_features")
    *_, ingested = lake
    assert browser.find_element(By.ID, "count").text.startswith(
        f"{ingested['out']} images published"
    )
    wait(browser, lambda b: loaded(b, "#images img"), "the grid's pictures")
    browser.switch_to.default_content()
    screenshot(browser, "images")
    in_frame(browser)
    assert HOSTILE_NAME in browser.find_element(By.ID, "images").text  # shown as text
    tile = css(browser, "#images .tile")[3]
    image_id = tile.get_attribute("data-image-id")
    click_and_wait(browser, tile.find_element(By.TAG_NAME, "a"), f"image {image_id[:12]}")
    wait(browser, lambda b: loaded(b, "#detections, #crop, #neighbours img"), "the image pictures")
    shown = [t.get_attribute("data-image-id") for t in css(browser, "#neighbours .tile")]
    expected = [r["image_id"] for r in images_view.image_neighbours(settings, DT, image_id, 8)]
    assert shown == expected and len(shown) == 8
    browser.switch_to.default_content()
    screenshot(browser, "image")
    in_frame(browser)
    # Search by uploading an image: its own file comes back first, at distance 0.
    features = load_features(settings, DT, ["image_id", "path"])
    path = uri_path(features[features["image_id"] == image_id]["path"].iloc[0])
    upload = tmp_path / "query.jpg"
    shutil.copy(path, upload)
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "image_features"), "image_features")
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(upload))
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form button"), "an upload")
    first = css(browser, "#neighbours .tile")[0]
    assert first.get_attribute("data-image-id") == image_id and "d=0" in first.text


def test_radar_panels_and_csi_for_an_issue_time(airflow, browser):
    from selenium.webdriver.common.by import By

    in_frame(browser)
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "radar_nowcast"), "radar_nowcast")
    times = css(browser, "#issue-times a")
    assert len(times) >= 10
    chosen = times[2].text
    click_and_wait(browser, times[2], "radar_nowcast")
    assert browser.find_element(By.ID, "issued").text == chosen
    wait(browser, lambda b: loaded(b, "#panels, #csi"), "the forecast panels and CSI plot")
    panels = browser.find_element(By.ID, "panels")
    assert panels.get_attribute("naturalWidth") and int(panels.get_attribute("naturalWidth")) > 500
    models = browser.find_element(By.ID, "models").text
    assert "persistence" in models and "flow" in models and "advection_radar@" in models
    assert "advection_radar@" in browser.find_element(By.ID, "csi-table").text
    browser.switch_to.default_content()
    screenshot(browser, "radar")


def test_house_listings_and_similar_listings_of_a_photo(lake, airflow, browser):
    from selenium.webdriver.common.by import By

    settings, _, listings, _ = lake
    with_photos = set(listings.listings) - set(listings.without_photos)
    in_frame(browser)
    click_and_wait(
        browser, browser.find_element(By.LINK_TEXT, "house_similarity"), "house_similarity"
    )
    shown = [x.get_attribute("data-listing-id") for x in css(browser, "#listings .listing")]
    assert sorted(shown) == sorted(with_photos)
    wait(browser, lambda b: loaded(b, "#listings img"), "the listing photos")
    browser.switch_to.default_content()
    screenshot(browser, "houses")
    in_frame(browser)
    front = css(browser, "#listings img.front")[0].find_element(By.XPATH, "..")
    photo_id = front.get_attribute("data-photo-id")
    click_and_wait(browser, front, f"listings like photo {photo_id[:12]}")
    expected = houses_view.similar_listings(settings, DT, photo_id, 8)
    results = [x.get_attribute("data-listing-id") for x in css(browser, "#similar .listing")]
    assert results == [r["listing_id"] for r in expected["results"]]
    assert expected["query"]["listing_id"] not in results
    assert browser.find_element(By.ID, "query-listing").text == expected["query"]["listing_id"]
    first = css(browser, "#similar .listing")[0].text
    assert f"score {expected['results'][0]['score']:.3f}" in first
    browser.switch_to.default_content()
    screenshot(browser, "similar-listings")


def test_a_users_history_and_recommendations_with_photos_and_sources(lake, airflow, browser):
    from selenium.webdriver.common.by import By

    settings, *_ = lake
    in_frame(browser)
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "listing_recs"), "listing_recs")
    users = [x.get_attribute("data-user-id") for x in css(browser, "#users tr.user")]
    table, _ = recs_view.recommendations_day(settings, DT)
    assert sorted(users) == sorted(set(table["user_id"]))[: recs_view.PAGE_SIZE]
    user = users[0]
    row = css(browser, "#users tr.user")[0]
    click_and_wait(browser, row.find_element(By.TAG_NAME, "a"), f"recommendations for {user}")
    expected = recs_view.user_recommendations(settings, DT, user)
    shown = [(x.get_attribute("data-listing-id"), x.find_element(By.CLASS_NAME, "source").text)
             for x in css(browser, "#recommended .tile")]  # fmt: skip
    assert shown == [(r["listing_id"], r["source"]) for r in expected["recommendations"]]
    events = [x.find_element(By.CLASS_NAME, "event").text for x in css(browser, "#history .tile")]
    assert events == [h["event"] for h in expected["history"]] and events
    # The photos are the house view's, and they load.
    wait(browser, lambda b: loaded(b, "#recommended img"), "the recommended listings' photos")
    assert css(browser, "#recommended img")
    browser.switch_to.default_content()
    screenshot(browser, "recommendations")


def test_a_dags_tab_opens_its_pipeline(airflow, browser):
    from selenium.webdriver.common.by import By

    airflow.wait_for_dag("house_similarity", "house_similarity.py")
    browser.switch_to.default_content()
    browser.get(f"{airflow.url}/dags/house_similarity/plugin/lakesight-dag")
    in_frame(browser)
    wait(browser, lambda b: "house_similarity dt=" in b.find_element(By.ID, "title").text,
         "the house_similarity view in the DAG's tab")  # fmt: skip
    browser.switch_to.default_content()
    time.sleep(0.5)
    screenshot(browser, "dag-tab")
