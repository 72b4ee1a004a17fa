"""The site in a real browser (headless Chromium via Selenium): the index loads without console
errors, the horizon selector switches tables, a model page opens, a script in a submission
renders as text, and a clip page's preview video plays. Skipped where no Chromium/chromedriver
is installed (`.ci/run` installs them)."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium + chromedriver on this machine")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--allow-file-access-from-files"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_the_site_works_in_a_browser(site, browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get((site / "index.html").as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    section = browser.find_element(By.CSS_SELECTOR, "section#task-droid-sim")
    tables = {t.get_attribute("data-horizon"): t for t in section.find_elements(By.CSS_SELECTOR, "div.horizon")}
    assert tables["1s"].is_displayed() and not tables["2s"].is_displayed()
    section.find_element(By.CSS_SELECTOR, 'button[data-horizon="2s"]').click()
    assert tables["2s"].is_displayed() and not tables["1s"].is_displayed()
    section.find_element(By.CSS_SELECTOR, 'button[data-region="masked"]').click()
    header = [th.text for th in tables["2s"].find_elements(By.TAG_NAME, "th") if th.is_displayed()]
    assert any("masked" in h for h in header) and not any("background" in h for h in header)
    assert browser.save_screenshot(str(tmp_path / "index.png")) and (tmp_path / "index.png").stat().st_size > 10_000
    link = section.find_element(By.PARTIAL_LINK_TEXT, "darkened")
    link.click()
    assert "darkened" in browser.title
    assert "<script>alert(1)</script>" in browser.find_element(By.CSS_SELECTOR, "dl.card").text  # shown as text
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - the script did not run
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_clip_page_opens_and_its_video_plays(site, browser):
    import time

    from selenium.webdriver.common.by import By

    browser.get((site / "clips" / "droid-sim" / "index.html").as_uri())
    browser.find_element(By.LINK_TEXT, "ep000000-s008").click()
    assert "ep000000-s008" in browser.title
    browser.find_element(By.PARTIAL_LINK_TEXT, "darkened").click()  # this model's page of the clip
    video = browser.find_element(By.TAG_NAME, "video")
    browser.execute_script("arguments[0].play()", video)
    deadline = time.monotonic() + 10
    while browser.execute_script("return arguments[0].currentTime", video) <= 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert browser.execute_script("return arguments[0].currentTime", video) > 0
    assert browser.execute_script("return arguments[0].videoWidth", video) > 0  # decoded, not only loaded
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
