"""The chat page of `nanomind serve` in headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium): load the page, attach an image, ask about it, see the answer stream in
and the brick panel appear, and save a screenshot as a test artifact
($NM_BIN/../test-artifacts/server-chat-page.png). Skips where Chromium or its driver is missing."""
import os
import shutil

import pytest

from server_helpers import DEMO_DIR, DEMO_LLM, DEMO_MMPROJ, Server

webdriver = pytest.importorskip("selenium.webdriver")
if not shutil.which("chromium") or not shutil.which("chromedriver"):
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)

ARTIFACTS = os.path.join(os.environ.get("NM_BIN", "."), "..", "test-artifacts")


def test_the_page_answers_a_question_about_an_image(tmp_path):
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = os.path.join(DEMO_DIR, "samples", "scene_3.png")
    question = "How many shapes are there?"
    server = Server(["-m", DEMO_LLM, "--mmproj", DEMO_MMPROJ, "-n", "64"], tmp_path / "server.log")
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,800",
              f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(a)
    # Under the sanitizer build ctest preloads ASan into Python; the browser must not inherit it.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver"), env=env), options=opts)
    try:
        driver.set_page_load_timeout(30)
        driver.get(server.url + "/")
        WebDriverWait(driver, 30).until(lambda d: "nanomind-demo-llm.gguf" in d.find_element(By.ID, "model").text)
        driver.find_element(By.ID, "image").send_keys(image)
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "preview").is_displayed())
        driver.find_element(By.ID, "text").send_keys(question)
        driver.find_element(By.ID, "send").click()
        answer = WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".msg.assistant[data-done='1']"))
        panel = answer.find_element(By.CSS_SELECTOR, "table.bricks")
        rows = [r.text for r in panel.find_elements(By.TAG_NAME, "tr")]
        os.makedirs(ARTIFACTS, exist_ok=True)
        driver.save_screenshot(os.path.join(ARTIFACTS, "server-chat-page.png"))
        # The page samples with the server's defaults (not greedy): the answer is checked to
        # be there, the panel in detail.
        assert answer.find_element(By.TAG_NAME, "span").text.strip()
        assert any(r.startswith("vision cpu") for r in rows), rows
        assert any(r.startswith("text decode cpu") for r in rows), rows
        # Joules per brick: estimated from a device profile here (no power sensor), measured
        # where the machine has one.
        assert any(" J" in r for r in rows if r.startswith("text decode")), rows
        assert "first token" in rows[-1]
    finally:
        driver.quit()
        server.stop()
