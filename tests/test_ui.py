"""The MLflow UI in a real browser: `ganpipe ui` on the store of the shared tiny `dvc repro`, opened by
headless Chromium (Debian's chromium and chromium-driver, through Selenium). Once the app has
rendered, the runs table must show the pipeline's training runs with an FID column and a knob."""

import re
import subprocess
import sys

import pytest

import browser
from conftest import wait_healthy
from test_tracking import free_port

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def ui(e2e):
    """`ganpipe ui` serving the store of the shared tiny end-to-end repro (its snapshot), on loopback."""
    if browser.missing():
        pytest.skip(browser.missing())
    repo = e2e.pristine
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ganpipe", "ui", "--port", str(port)], cwd=repo,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, server)
    yield base, server
    server.terminate()
    server.wait(timeout=30)


def test_the_ui_opens_on_the_training_runs_with_an_fid_column(ui, tmp_path):
    base, server = ui
    # `ganpipe ui` names the page to open: the shared view of the runs table
    announced = server.stderr.readline()
    url = re.search(r"(http://\S+viewStateShareKey=ganpipe)", announced)
    assert url and url.group(1).startswith(base), announced
    driver = browser.start(tmp_path / "profile")
    try:
        driver.get(url.group(1))
        browser.settle(driver, 8)
        # a fresh browser starts in MLflow 3's GenAI navigation: the experiment's kind tag still opens
        # it on its training runs, not on the GenAI overview (traces, latency)
        first = driver.find_element("tag name", "body").text
        text = browser.open_runs_table(driver, url.group(1))
        headers = {h.text.strip() for h in driver.find_elements("css selector", "[role='columnheader']")}
        # the grid draws a row's name (after its colour swatch) and its other columns in two
        # containers that share the row's index
        row_of = {}
        for row in driver.find_elements("css selector", "[role='row']"):
            name = re.search(r"^#[0-9a-f]{6}\n(.+)$", row.text, re.M)
            if name:
                row_of[name.group(1)] = row.get_attribute("aria-rowindex")
        def column(key: str) -> dict[str, str]:
            return {cell.find_element("xpath", "..").get_attribute("aria-rowindex"): cell.text
                    for cell in driver.find_elements("css selector", f"[role='gridcell'][col-id='metrics.`{key}`']")}

        fid_of, wgan_fid_of = column("fid"), column("wgan.fid")
    finally:
        driver.quit()
    assert "Training runs" in first and "No data" not in first
    assert "Model training" in text and "Evaluations" not in text
    assert any(re.fullmatch(r"dvc repro [0-9a-f]{7}", name) for name in row_of)  # the pipeline run, expanded ...
    assert {"train-wgan", "train-gan", "train-vae", "evaluate"} <= row_of.keys()  # ... with its stages nested
    assert {"fid", "precision", "wgan.clip"} <= headers, headers
    for stage in ("train-wgan", "train-gan"):
        assert float(fid_of[row_of[stage]]) > 0, stage  # evaluate's FID, on the training run
    parent = next(name for name in row_of if name.startswith("dvc repro"))
    assert float(wgan_fid_of[row_of[parent]]) > 0  # the collapsed row's headline
