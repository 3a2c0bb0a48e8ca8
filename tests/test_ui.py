"""`ganpipe ui` on the store of the shared tiny `dvc repro`: it listens on loopback only, and in a
real browser (headless Chromium, Debian's chromium and chromium-driver, through Selenium) the runs
table, once the app has rendered, opens on the pipeline execution's row with every model's FID and modes, and a knob."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import browser
from conftest import free_port, stop_group, wait_healthy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ui(e2e):
    """`ganpipe ui` serving the store of the shared tiny end-to-end repro (its snapshot), on its default host."""
    repo = e2e.pristine
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ganpipe", "ui", "--port", str(port)], cwd=repo,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, server)
    yield base, port, server
    stop_group(server)


def listening(port: int) -> list[str]:
    """Local addresses in LISTEN state on `port`, from /proc/net/tcp{,6} (hex as the kernel writes them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            addr, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.append(addr)
    return found


def test_the_ui_listens_on_loopback_only(ui):
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("needs Linux /proc/net/tcp")
    _, port, _ = ui
    addrs = listening(port)
    assert addrs and set(addrs) == {"0100007F"}, addrs  # 127.0.0.1; 0.0.0.0 would be 00000000


def test_the_ui_opens_on_the_training_runs_with_the_pipeline_rows_headline(ui, tmp_path):
    if browser.missing():
        pytest.skip(browser.missing())
    base, _, server = ui
    # `ganpipe ui` says it is starting, then names the page to open once the server answers: the
    # shared view of the runs table
    said = [server.stderr.readline()]
    while "ready" not in said[-1] and said[-1]:
        said.append(server.stderr.readline())
    assert said[0].startswith("MLflow UI for ") and "starting" in said[0], said
    url = re.search(r"(http://\S+viewStateShareKey=ganpipe)", said[-1])
    assert url and url.group(1).startswith(base), said
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

        parent_cells = {key: column(key) for key in ("wgan.fid", "gan.fid", "wgan.modes", "gan.modes")}
    finally:
        driver.quit()
    assert "Training runs" in first and "No data" not in first
    assert "Model training" in text and "Evaluations" not in text
    assert any(re.fullmatch(r"dvc repro [0-9a-f]{7}", name) for name in row_of)  # the pipeline run, expanded ...
    assert {"train-wgan", "train-gan", "train-vae", "evaluate"} <= row_of.keys()  # ... with its stages nested
    assert {"wgan.fid", "gan.fid", "verdicts.reproduced", "wgan.clip"} <= headers, headers
    parent = next(name for name in row_of if name.startswith("dvc repro"))
    for key, cells in parent_cells.items():  # the columns the table opens on are the pipeline row's own
        assert float(cells[row_of[parent]]) > 0, key
