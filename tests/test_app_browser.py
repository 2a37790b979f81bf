# Copyright 2026 The ssm-video-models authors.
# SPDX-License-Identifier: Apache-2.0
"""The web demo (`app.py`) in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`) driven by
selenium against `python app.py` on a free local port, with the shipped demo checkpoint, offline."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest


ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OutboundRecorder:
    """A proxy on the loopback that answers nothing and notes what it was asked for: the app runs with every
    `*_PROXY` variable pointing here, so any outbound call it makes (analytics, version checks, Hub downloads) is
    recorded instead of leaving the machine."""

    def __init__(self):
        self.requests, self.server = [], socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port, self.running = self.server.getsockname()[1], True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.requests.append(conn.recv(1024).split(b"\r\n")[0].decode(errors="replace"))
                except OSError:
                    self.requests.append("(a connection that sent nothing)")

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        self.server.close()


@pytest.fixture
def app_server(tmp_path):
    """`python app.py --port N` (the shipped demo model), its URL and the recorder of its outbound calls."""
    pytest.importorskip("gradio", reason="the web demo needs its extra: pip install -e '.[app]'")
    recorder = OutboundRecorder()
    port = _free_port()
    proxy = f"http://127.0.0.1:{recorder.port}"
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "src"), env.get("PYTHONPATH", "")]),
        GRADIO_TEMP_DIR=str(tmp_path / "gradio"),
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        **{name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")},
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    log = open(tmp_path / "app.log", "w")
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "app.py"), "--port", str(port)],
        cwd=str(tmp_path),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}:\n{(tmp_path / 'app.log').read_text()}")
            try:
                opener.open(url, timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"app.py did not answer in 120 s:\n{(tmp_path / 'app.log').read_text()}")
                time.sleep(0.5)
        yield {"url": url, "outbound": recorder.requests, "log": tmp_path / "app.log"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        recorder.close()


@pytest.fixture
def browser(tmp_path, monkeypatch):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "the browser test needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver), "
            "which are not installed here"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser test needs selenium (pip install selenium)"
    )
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium's manager never downloads a driver or a browser

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        "--autoplay-policy=no-user-gesture-required",
        # a name that is not the loopback resolves to nothing: the page must need no outside resource
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path, prefix='chromium-')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _table(driver, index):
    """The query label and the rows `[[rank, start, end, score], ...]` of the moments table `index`."""
    return driver.execute_script(
        """
        const table = document.querySelector('#moments-' + arguments[0]);
        if (!table || table.offsetParent === null) return null;
        const rows = {};
        for (const cell of table.querySelectorAll('[role=gridcell]')) {
            (rows[cell.dataset.row] = rows[cell.dataset.row] || [])[cell.dataset.col] = cell.innerText.trim();
        }
        return {label: table.querySelector('[role=grid]').getAttribute('aria-label'),
                rows: Object.keys(rows).sort((a, b) => a - b).map(r => rows[r])};
        """,
        index,
    )


def _player_time(driver):
    return driver.execute_script("return document.querySelector('#player video').currentTime")


def test_browser_grounds_sample_video_and_seeks_player(app_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    start = time.perf_counter()
    driver = browser
    driver.get(app_server["url"])
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sample"))
    info = driver.find_element(By.CSS_SELECTOR, "#model-info").text
    assert "hieramamba-synthetic" in info and "only knows coloured shapes" in info

    def message():
        return driver.find_element(By.CSS_SELECTOR, "#message").text

    # the sample video: drawn by the synthetic generator, shown in the player, its queries in the text box
    driver.find_element(By.CSS_SELECTOR, "#sample").click()
    wait.until(lambda d: "Sample video" in message())
    wait.until(lambda d: d.execute_script("const v = document.querySelector('#player video'); return v && v.duration"))
    duration = driver.execute_script("return document.querySelector('#player video').duration")
    box = driver.find_element(By.CSS_SELECTOR, "#queries textarea")
    sample_queries = box.get_attribute("value").splitlines()
    assert len(sample_queries) == 3

    # two queries typed by hand (two of the sample's, so the moments can be checked against the video's truth)
    queries = sample_queries[:2]
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(queries[0] + "\n" + queries[1])
    assert box.get_attribute("value").splitlines() == queries
    driver.find_element(By.CSS_SELECTOR, "#ground").click()
    wait.until(lambda d: "Grounded 2 queries" in message() or "Could not" in message())
    assert "Grounded 2 queries" in message(), message()

    # per query a ranked table: ranks 1..k, scores descending, moments inside the video; no third table
    tables = [_table(driver, i) for i in range(3)]
    assert tables[2] is None
    for query, table in zip(queries, tables[:2]):
        assert table is not None and table["label"] == query
        rows = table["rows"]
        assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1)) and len(rows) == 3  # the slider's default
        starts, ends, scores = ([float(r[c]) for r in rows] for c in (1, 2, 3))
        assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
        assert all(0 <= s < e <= duration + 0.5 for s, e in zip(starts, ends))
    timeline = driver.find_element(By.CSS_SELECTOR, "#timeline img")
    assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", timeline) > 500

    # choosing a moment plays the video from its start; choosing another seeks again
    targets = [(1, 0, float(tables[1]["rows"][0][1]))]
    others = [(0, r, float(row[1])) for r, row in enumerate(tables[0]["rows"])]
    far = max(others, key=lambda o: abs(o[2] - targets[0][2]))
    if abs(far[2] - targets[0][2]) > 2:
        targets.append(far)
    for table, row, moment in targets:
        driver.find_element(By.CSS_SELECTOR, f"#moments-{table} [data-testid='cell-{row}-1']").click()
        wait.until(lambda d: moment - 0.1 <= _player_time(d) <= moment + 3)
    assert driver.execute_script("return !document.querySelector('#player video').paused") or (
        _player_time(driver) >= duration - 0.5
    )

    driver.set_window_size(1400, driver.execute_script("return document.documentElement.scrollHeight") + 120)
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.5)  # the re-laid page settles
    screenshot = tmp_path / "app.png"
    assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000

    # bad input gives a message on the page, and the tables go
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    driver.find_element(By.CSS_SELECTOR, "#ground").click()
    wait.until(lambda d: "Type at least one query" in message())
    assert _table(driver, 0) is None and "Traceback" not in driver.find_element(By.TAG_NAME, "body").text

    # nothing left the machine: not from the page, not from the server
    outside = set()
    for entry in driver.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        if event["method"] == "Network.requestWillBeSent":
            url = event["params"]["request"]["url"]
            if url.split(":")[0] in ("http", "https", "ws", "wss") and not url.startswith(app_server["url"][:-1]):
                outside.add(url)
    assert not outside, f"the page asked for outside resources: {sorted(outside)}"
    assert not app_server["outbound"], f"app.py tried to reach: {app_server['outbound']}"
    assert "Traceback" not in app_server["log"].read_text()
    print(f"browser test: {time.perf_counter() - start:.1f} s in the browser, screenshot {screenshot}")
