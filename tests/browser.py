"""Headless Chromium (Debian's chromium + chromium-driver) driven through Selenium, for the UI
test and for the README's screenshots of the MLflow UI:

    python tests/browser.py http://127.0.0.1:5000 mlflow.db reports/ui

takes them from a running `ganpipe ui` on the store mlflow.db: the runs table with a pipeline run
expanded, a parent run's page, a training run's metric chart and its sample grid.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
# as root, with no network but loopback: no sandbox, and none of Chromium's own calls home
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--window-size=1600,1000"]
EXPAND = "button[data-component-id*='runnamecellrenderer']"  # the +/- beside a parent run's name


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "no Chromium with its driver here (Debian: apt-get install chromium chromium-driver)"
    return None


def start(profile: Path | None = None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile or tempfile.mkdtemp(prefix='chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def settle(driver, seconds: float = 2.0) -> None:
    """Let the app fetch and render, then close the assistant panel that takes a third of the page."""
    from selenium.webdriver.common.by import By

    time.sleep(seconds)
    for button in driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
        try:
            button.click()
        except Exception:  # hidden or gone: nothing to close
            pass
    time.sleep(0.5)


def choose_model_training(driver) -> None:
    """MLflow 3's sidebar switch between its GenAI and Model training navigation is a setting of
    the browser, not of the store (a fresh profile starts on GenAI, where run pages sit under
    "Evaluations"); flip it as a user would, once."""
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.XPATH, "//*[normalize-space(text())='Model training']"):
        try:
            element.click()
            time.sleep(1)
            return
        except Exception:  # not the clickable one
            continue


def open_runs_table(driver, url: str, timeout: float = 60) -> str:
    """Open the runs table at `url` (ganpipe's shared view) in the Model training navigation,
    expand the newest pipeline run and return the page's visible text once its stages are listed."""
    from selenium.webdriver.common.by import By

    for attempt in range(2):  # the switch navigates away from the shared view: open it again
        driver.get(url)
        deadline = time.time() + timeout
        while not driver.find_elements(By.CSS_SELECTOR, EXPAND):
            if time.time() > deadline:
                raise TimeoutError(f"no expandable run in the runs table at {url}")
            time.sleep(0.5)
        settle(driver)
        if attempt == 0:
            choose_model_training(driver)
    driver.find_elements(By.CSS_SELECTOR, EXPAND)[0].click()
    time.sleep(2)
    return driver.find_element(By.TAG_NAME, "body").text


def capture(base: str, store: str, out: Path) -> list[Path]:
    """The README's four screenshots of the UI: the runs table with the newest pipeline run
    expanded, that run's page (its stages, ran or skipped), and the newest `dvc repro`'s GAN
    training run: its metric charts and its sample grid."""
    from mlflow.tracking import MlflowClient

    from ganpipe.running.tracking import training_view_url

    client = MlflowClient(tracking_uri=f"sqlite:///{Path(store).resolve()}")
    exp = client.get_experiment_by_name("ganpipe")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1000)
    parents = [r for r in runs if "ganpipe.execution" in r.data.tags]
    repro = next(r for r in parents if r.info.run_name.startswith("dvc repro"))
    gan = next(r for r in runs if r.data.tags.get("mlflow.parentRunId") == repro.info.run_id
               and r.data.tags.get("stage") == "train-gan")
    page = f"{base}/#/experiments/{exp.experiment_id}/runs"
    out.mkdir(parents=True, exist_ok=True)
    driver = start()
    shots = []
    try:
        open_runs_table(driver, training_view_url(base, f"sqlite:///{Path(store).resolve()}", "ganpipe"))
        shots.append(out / "runs-table.png")
        driver.save_screenshot(str(shots[-1]))
        for name, url in (("parent-run.png", f"{page}/{parents[0].info.run_id}"),
                          ("metric-chart.png", f"{page}/{gan.info.run_id}/model-metrics"),
                          ("grid-artifact.png", f"{page}/{gan.info.run_id}/artifacts/grid.png")):
            driver.get(url)
            settle(driver, 4)
            shots.append(out / name)
            driver.save_screenshot(str(shots[-1]))
    finally:
        driver.quit()
    return shots


if __name__ == "__main__":
    for shot in capture(sys.argv[1], sys.argv[2], Path(sys.argv[3])):
        print(shot)
