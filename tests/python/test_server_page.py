"""The chat page of `nanomind serve` in headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium): load the page, attach an image, ask about it, see the answer stream in
and the brick panel appear, and save a screenshot as a test artifact
($NM_BIN/../test-artifacts/server-chat-page.png); with --asr, record a spoken question through
the microphone button (Chromium's fake capture device playing espeak-ng's speech), see the
transcript the server heard, the answer, and the audio and asr bricks
(server-chat-page-speech.png). Skips where Chromium or its driver is missing."""
import os
import shutil

import pytest

from server_helpers import DEMO_DIR, DEMO_LLM, DEMO_MMPROJ, Server

webdriver = pytest.importorskip("selenium.webdriver")
if not shutil.which("chromium") or not shutil.which("chromedriver"):
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)

ARTIFACTS = os.path.join(os.environ.get("NM_BIN", "."), "..", "test-artifacts")


def chrome(tmp_path, *extra):
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,800",
              f"--user-data-dir={tmp_path / 'profile'}", *extra):
        opts.add_argument(a)
    # Under the sanitizer build ctest preloads ASan into Python; the browser must not inherit it.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    return webdriver.Chrome(service=Service(shutil.which("chromedriver"), env=env), options=opts)


def test_the_page_answers_a_question_about_an_image(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    image = os.path.join(DEMO_DIR, "samples", "scene_3.png")
    question = "How many shapes are there?"
    server = Server(["-m", DEMO_LLM, "--mmproj", DEMO_MMPROJ, "-n", "64"], tmp_path / "server.log")
    driver = chrome(tmp_path)
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
        assert not driver.find_element(By.ID, "mic").is_displayed()  # no --asr: no microphone
    finally:
        driver.quit()
        server.stop()


def test_the_microphone_button_sends_a_spoken_question(tmp_path):
    import time

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import whisper_helpers as wh
    wav = wh.speak("What shape is the red one?", tmp_path / "q.wav")
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    # Random weights (the transcript is gibberish); 64 text positions keep decoding short.
    whisper = wh.make_tiny(tmp_path, 2, "ct2", "float32", n_text_ctx=64)
    server = Server(["-m", DEMO_LLM, "--asr", whisper, "-n", "16", "-c", "2048", "-t", "2"], tmp_path / "server.log")
    driver = chrome(tmp_path, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={wav}%noloop", "--autoplay-policy=no-user-gesture-required")
    try:
        driver.set_page_load_timeout(30)
        driver.get(server.url + "/")
        mic = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "mic") if d.find_element(
            By.ID, "mic").is_displayed() else None)
        mic.click()
        WebDriverWait(driver, 10).until(lambda d: "recording" in d.find_element(By.ID, "recorded").text)
        time.sleep(2.5)  # the question lasts 1.9 s
        mic.click()
        WebDriverWait(driver, 10).until(lambda d: "s recorded" in d.find_element(By.ID, "recorded").text)
        driver.find_element(By.ID, "send").click()
        answer = WebDriverWait(driver, 120).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".msg.assistant[data-done='1'], .msg.error"))
        os.makedirs(ARTIFACTS, exist_ok=True)
        driver.save_screenshot(os.path.join(ARTIFACTS, "server-chat-page-speech.png"))
        assert "assistant" in answer.get_attribute("class"), answer.text
        heard = driver.find_element(By.CSS_SELECTOR, ".msg.user i.transcript").text
        assert heard.startswith("\U0001F3A4 ") and len(heard) > 3, heard
        rows = [r.text for r in answer.find_elements(By.CSS_SELECTOR, "table.bricks tr")]
        assert any(r.startswith("audio cpu") and "seconds/s" in r for r in rows), rows
        assert any(r.startswith("asr cpu") for r in rows), rows
        # The server heard about as much audio as the page recorded (the capture may add a little silence).
        _, metrics = server.get("/metrics")
        assert server.metric("nanomind_audio_parts_total") == 1, metrics
        assert 0.5 < server.metric("nanomind_audio_seconds_total") < 10
    finally:
        driver.quit()
        server.stop()
