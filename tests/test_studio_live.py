"""lmtune studio as a user runs it: a real server process (`lmtune studio`), its training worker,
kill -9 in the middle of labeling and of training, and a headless Chromium that labels by
keyboard, trains, reads the report and fixes a label, with a screenshot of every page.

The browser test needs Debian's `chromium` and `chromium-driver` (.ci/run installs them); without
them it is skipped, unless LMTUNE_REQUIRE_BROWSER=1 (CI) makes that a failure. Screenshots go to
LMTUNE_STUDIO_SCREENSHOTS when set (docs/images is made that way), else to the test's tmp dir.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from conftest import POSITIVE, sentiment_rows, write_csv  # noqa: E402

TOKEN = "live-test-token-0123456789"
FAST = ["--set", "model.max_length=32", "--set", "training.batch_size=8", "--set", "training.learning_rate=2e-3"]


class Studio:
    """`lmtune studio DIR ...` in a process of its own, on a free port."""

    def __init__(self, directory: Path, *args: str):
        self.directory, self.args, self.process = directory, args, None

    def start(self) -> "Studio":
        log = self.directory.parent / "server.log"
        self.log_start = log.stat().st_size if log.exists() else 0
        self.process = subprocess.Popen([sys.executable, "-m", "lmtune", "studio", str(self.directory), "--port", "0",
                                         *self.args], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                        env={**os.environ, "LMTUNE_STUDIO_TOKEN": TOKEN})
        deadline = time.time() + 90
        while time.time() < deadline:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text(errors="replace")[self.log_start:])
            if found and self._answers(int(found.group(1))):
                self.port = int(found.group(1))
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"the studio exited:\n{log.read_text()[self.log_start:]}")
            time.sleep(0.3)
        raise AssertionError(f"the studio did not start:\n{log.read_text()[self.log_start:]}")

    def _answers(self, port: int) -> bool:
        import httpx

        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/training", headers=self.auth, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    auth = {"Authorization": f"Bearer {TOKEN}"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import httpx

        client = httpx.Client(base_url=self.url, follow_redirects=True, timeout=30)
        client.get(f"/label?token={TOKEN}")
        return client

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@pytest.fixture
def pool(tmp_path) -> Path:
    rows = [{"text": r["text"]} for r in sentiment_rows(24, seed=5)]
    return write_csv(tmp_path / "pool.csv", rows, columns=("text",))


@pytest.fixture
def studios():
    started = []
    yield lambda directory, *args: started.append(Studio(directory, *args).start()) or started[-1]
    for studio in started:
        studio.stop()


def truth(text: str) -> str:
    return "pos" if any(word in text.split() for word in POSITIVE) else "neg"


def label_next(client, studio_dir: Path | None = None) -> tuple[int, str]:
    page = client.get("/label").text
    text = re.search(r'id="text">(.*?)</blockquote>', page, re.S).group(1)
    text_id = int(re.search(r'name="text_id" value="(\d+)"', page).group(1))
    csrf = re.search(r'name="csrf" value="(\w+)"', page).group(1)
    label = truth(text)
    assert client.post("/label", data={"text_id": text_id, "label": label, "version": 0, "csrf": csrf}).status_code == 200
    return text_id, label


def wait_for(client, statuses: set[str], timeout: float = 240) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        training = client.get("/api/training").json()["training"]
        if training and training["status"] in statuses:
            return training
        time.sleep(0.5)
    raise AssertionError(f"no training reached {statuses} in {timeout:.0f} s: {training}")


def test_kill_9_mid_labeling_loses_no_label(tmp_path, pool, tiny_backbone, studios):
    studio_dir = tmp_path / "studio"
    studio = studios(studio_dir, "--data", str(pool), "--labels", "pos,neg", "--model", str(tiny_backbone))
    client = studio.client()
    given = dict(label_next(client) for _ in range(6))
    second = subprocess.run([sys.executable, "-m", "lmtune", "studio", str(studio_dir), "--port", "0"],
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and "another lmtune studio is serving" in second.stdout + second.stderr
    studio.kill9()  # no shutdown of any kind: the labels must already be on disk
    again = studios(studio_dir)
    exported = again.client().get("/export/labels.csv").text.splitlines()[1:]
    assert len(exported) == 6
    from lmtune.studio.store import Store

    assert {t.id: t.label for t in Store(studio_dir).labeled()} == given


def test_kill_9_mid_training_is_reported_and_restarts(tmp_path, pool, tiny_backbone, studios):
    studio_dir = tmp_path / "studio"
    studio = studios(studio_dir, "--data", str(pool), "--labels", "pos,neg", "--model", str(tiny_backbone), *FAST,
                     "--set", "method.name=supervised", "--set", "training.epochs=120")
    client = studio.client()
    for _ in range(8):
        label_next(client)
    csrf = re.search(r'name="csrf" value="(\w+)"', client.get("/train").text).group(1)
    client.post("/train/start", data={"csrf": csrf})
    deadline = time.time() + 120
    while True:  # until the Trainer is stepping
        training = client.get("/api/training").json()["training"]
        if training["progress"].get("step", 0) >= 3:
            break
        assert training["status"] in ("starting", "running") and time.time() < deadline, training
        time.sleep(0.2)
    worker = training["pid"]
    studio.kill9()
    for _ in range(50):  # the worker notices its server is gone and stops
        if not Path(f"/proc/{worker}").exists() or "zombie" in Path(f"/proc/{worker}/status").read_text().lower():
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the training worker outlived its killed server")
    again = studios(studio_dir)
    client = again.client()
    interrupted = client.get("/api/training").json()["training"]
    assert interrupted["status"] == "interrupted" and "studio stopped" in interrupted["message"]
    train_page = client.get("/train").text
    assert "interrupted" in train_page and 'class="restart"' in train_page
    client.post(f"/train/{interrupted['id']}/restart", data={"csrf": csrf})
    done = wait_for(client, {"done", "failed"})
    assert done["status"] == "done", done["message"]
    assert done["restarts"] == 1 and done["id"] == interrupted["id"]
    assert "report" in client.get("/train").text and "Labels to check" in client.get("/report").text

    # the model goes out as a run dir (zip) and as int8
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(client.get("/export/model.zip").content)).namelist()
    assert "config.json" in names and "lmtune_run.json" in names and not any(n.startswith("checkpoints") for n in names)
    client.post("/export/model", data={"fmt": "int8", "csrf": csrf})
    from lmtune.studio.store import Store

    deadline = time.time() + 120
    while Store(studio_dir).get_meta("export")["status"] == "running" and time.time() < deadline:
        time.sleep(0.3)
    export = Store(studio_dir).get_meta("export")
    assert export["status"] == "done", export
    assert (Path(export["path"]) / "lmtune_run.json").is_file() and "done" in client.get("/export").text

    # a second training is cancelled from the page: its worker stops, the first model stays current
    client.post("/train/start", data={"csrf": csrf})
    running = wait_for(client, {"running"})
    assert "cancelled" in client.post("/train/cancel", data={"csrf": csrf}).text
    stopped = client.get("/api/training").json()
    assert stopped["training"]["status"] == "cancelled" and stopped["current"] == done["id"]
    time.sleep(1)
    assert not Path(f"/proc/{running['pid']}").exists() or "zombie" in Path(f"/proc/{running['pid']}/status").read_text().lower()


def browser():
    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("LMTUNE_REQUIRE_BROWSER") == "1":
            raise AssertionError("chromium and chromium-driver are required here (apt-get install chromium chromium-driver)")
        pytest.skip("no chromium/chromedriver (apt-get install chromium chromium-driver)")
    selenium = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = selenium.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                 "--disable-gpu"):
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium's manager must not look for downloads
    return selenium.Chrome(options=options, service=Service(driver))


def left_page(element):
    """A wait condition: the element's page has been replaced.

    selenium's staleness_of knows only StaleElementReferenceException; chromedriver answers the same race
    (the page changes while it asks) with "Node with given id does not belong to the document" too.
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def check(_driver) -> bool:
        try:
            element.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
    return check


def test_browser_labels_by_keyboard_trains_reads_the_report_and_fixes_a_label(tmp_path, pool, tiny_backbone, studios):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shows
    from selenium.webdriver.support.ui import Select, WebDriverWait

    shots = Path(os.environ.get("LMTUNE_STUDIO_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    studio_dir = tmp_path / "studio"
    studio = studios(studio_dir, "--data", str(pool), "--labels", "pos,neg", "--model", str(tiny_backbone), *FAST,
                     "--set", "training.epochs=4")
    driver = browser()

    def shot(name: str) -> None:
        path = shots / f"studio-{name}.png"
        driver.save_screenshot(str(path))
        assert path.stat().st_size > 5000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    try:
        wait = WebDriverWait(driver, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
        driver.get(f"{studio.url}/?token={TOKEN}")
        assert TOKEN not in driver.current_url  # swapped for a cookie
        shot("label")
        keys = {"pos": "1", "neg": "2"}
        given, presses = {"pos": 0, "neg": 0}, 0
        def shown_text():  # once the next page has loaded
            return wait.until(shows.presence_of_element_located((By.ID, "text")))

        while sum(given.values()) < 8:
            text = shown_text()
            label = truth(text.text)
            key = keys[label] if given[label] < 4 else "s"  # four of each: skip the rest of a full class
            if presses == 2:  # once: a label by mistake, taken back with u
                ActionChains(driver).send_keys(keys["neg" if label == "pos" else "pos"]).perform()
                wait.until(left_page(text))
                ActionChains(driver).send_keys("u").perform()
                wait.until(lambda d: "taken back" in d.find_element(By.ID, "msg").text)
                text = shown_text()
            ActionChains(driver).send_keys(key).perform()
            wait.until(left_page(text))
            presses += 1
            if key != "s":
                given[label] += 1
        assert "8 labeled of" in driver.find_element(By.CLASS_NAME, "tally").text
        from lmtune.studio.store import Store

        labeled = Store(studio_dir).labeled()
        assert len(labeled) == 8 and all(t.label == truth(t.text) for t in labeled)  # the undone mistake is gone

        driver.find_element(By.LINK_TEXT, "Train").click()
        wait.until(shows.element_to_be_clickable((By.ID, "start"))).click()
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "progress"))
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.LINK_TEXT, "report") or  # live progress
                                        d.find_element(By.ID, "phase").text.strip() not in ("", "preparing"))
        shot("train")
        WebDriverWait(driver, 300).until(lambda d: d.find_elements(By.LINK_TEXT, "report"))
        assert "done" in driver.find_element(By.ID, "trainings").text
        shot("trained")

        driver.find_element(By.LINK_TEXT, "report").click()
        wait.until(lambda d: d.find_elements(By.ID, "issues"))
        assert driver.find_element(By.ID, "accuracy").text.endswith("%")
        shot("report")
        row = driver.find_element(By.CSS_SELECTOR, "#issues form.fix")
        text_id = int(row.find_element(By.NAME, "text_id").get_attribute("value"))
        before = Store(studio_dir).get(text_id).label
        other = "neg" if before == "pos" else "pos"
        Select(row.find_element(By.NAME, "label")).select_by_value(other)
        row.find_element(By.TAG_NAME, "button").click()
        wait.until(left_page(row))  # the old page still shows #issues until the post is answered
        wait.until(lambda d: d.find_elements(By.ID, "issues"))
        assert not driver.find_elements(By.ID, "msg"), driver.find_element(By.ID, "msg").text
        assert Store(studio_dir).get(text_id).label == other
        shot("report-fixed")

        driver.find_element(By.LINK_TEXT, "Predictions").click()
        wait.until(lambda d: d.find_elements(By.ID, "predictions"))
        assert len(driver.find_elements(By.CSS_SELECTOR, "#predictions tr")) > 2  # the pool has guesses
        shot("predictions")
    except Exception:
        driver.save_screenshot(str(shots / "studio-failure.png"))
        (shots / "studio-failure.html").write_text(driver.page_source)
        raise
    finally:
        driver.quit()
