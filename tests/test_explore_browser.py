"""The explorer in a real browser: Selenium drives Debian's headless chromium (and its
chromedriver, by path: nothing is downloaded) against a real server on a free loopback
port.

The page loads without console errors; a click on the map draws a path (seen on the
screenshot's pixels) and lists each run's status; the learning-rate slider changes the
path; a bad formula shows its error inline with a column; a URL with state reproduces
the picture; the exports download (JSON, CSV, PNG) and the Python snippet runs; and no
request leaves the page's origin (Chrome's performance log).

Skipped, with the reason, only where chromium, chromedriver or selenium is missing and
not in CI; with CI=true they must be there (the tests fail otherwise). The screenshots
go to pytest's temporary folder (printed with ``-s``), or to $DESCEND_SCREENSHOT_DIR.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from helpers import ExploreServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

WAIT_S = 60  # the longest any one wait may take (compiling included)
MODULE_BUDGET_S = 240  # past this, the remaining tests fail at once instead of waiting

# The colours the page gives the optimizers (app.js's OPT_COLORS: Okabe-Ito).
GD_ORANGE = (0xE6, 0x9F, 0x00)
ADAM_BLUE = (0x00, 0x72, 0xB2)


def _missing() -> list[str]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return missing


_MISSING = _missing()
if _MISSING and not IN_CI:
    pytest.skip(
        f"browser tests need {' and '.join(_MISSING)} (apt-get install chromium "
        "chromium-driver; CI=true makes this a failure)",
        allow_module_level=True,
    )


# --------------------------------------------------------------------------- the server
# --------------------------------------------------------------------------- the browser
class Page:
    """One headless chromium on the explorer, with the helpers the tests share."""

    def __init__(self, url: str, downloads: Path, shots: Path) -> None:
        from selenium import webdriver

        self.url = url
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        self.downloads = downloads
        self.shots = shots
        self.console: list[dict] = []  # every console entry of the session
        self.requests: list[str] = []  # every URL the page asked for

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--force-device-scale-factor=1",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
        ):
            options.add_argument(arg)
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
                "download.directory_upgrade": True,
            },
        )
        options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True})
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(WAIT_S)
        self.driver.set_script_timeout(WAIT_S)
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": str(downloads)},
        )

    def quit(self) -> None:
        self.driver.quit()

    # -- logs
    def drain_logs(self) -> None:
        """Move the browser's console and network logs into self (reading empties them)."""
        self.console += self.driver.get_log("browser")
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])

    def errors(self) -> list[str]:
        """Console errors other than the 422s the page asks for on purpose (a bad
        formula): Chrome logs every non-2xx answer as 'Failed to load resource'."""
        self.drain_logs()
        return [
            e["message"]
            for e in self.console
            if e["level"] == "SEVERE"
            and not ("Failed to load resource" in e["message"] and "422" in e["message"])
        ]

    # -- navigation and waiting
    def open(self, state: str) -> None:
        """A fresh load of the page with ``state`` as its hash; waits until it settles."""
        self.drain_logs()
        self.driver.get("about:blank")
        self.driver.get(self.url + "#" + state)
        self.settle()

    def js(self, script: str, *args: object) -> object:
        return self.driver.execute_script(script, *args)

    def settle(self, runs: bool = True) -> None:
        """Wait until no request is pending and the animation has reached its end (the
        tests ask for speed=1000: a thousand steps a second)."""
        from selenium.webdriver.support.ui import WebDriverWait

        script = """
            const busy = document.body.dataset.state !== "ready";
            const playing = document.querySelector("#play").classList.contains("active");
            const counter = document.querySelector("#frame-counter").textContent;
            const m = /step (\\d+) \\/ (\\d+)/.exec(counter);
            const listed = document.querySelectorAll("#status-list li[data-status]").length;
            return !busy && !playing && (!arguments[0] || (listed > 0 && m && m[1] === m[2]));
        """
        WebDriverWait(self.driver, WAIT_S, poll_frequency=0.05).until(
            lambda d: d.execute_script(script, runs),
            message=f"the page did not settle: {self.driver.current_url}",
        )

    def wait_for(self, script: str, message: str, *args: object) -> object:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_S, poll_frequency=0.05).until(
            lambda d: d.execute_script(script, *args), message=message
        )

    def hash_params(self) -> dict[str, str]:
        frag = urlsplit(self.driver.current_url).fragment
        return dict(item.split("=", 1) for item in frag.split("&") if "=" in item)

    def statuses(self) -> dict[str, dict[str, str]]:
        """The status list, in its order: optimizer -> data-status, data-success, text."""
        items = self.js(
            """
            return Array.from(document.querySelectorAll("#status-list li[data-optimizer]"),
              (li) => [li.dataset.optimizer, {status: li.dataset.status,
                       success: li.dataset.success, text: li.innerText}]);
            """
        )
        return dict(items)

    # -- pixels
    def map_box(self) -> tuple[int, int, int, int]:
        r = self.js("return document.querySelector('#map').getBoundingClientRect().toJSON()")
        return round(r["x"]), round(r["y"]), round(r["width"]), round(r["height"])

    def screenshot(self, name: str) -> np.ndarray:
        """The page as RGB pixels (device pixel ratio 1), also saved as ``name``.png."""
        from PIL import Image

        png = self.driver.get_screenshot_as_png()
        (self.shots / f"{name}.png").write_bytes(png)
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)

    def map_pixels(self, name: str) -> np.ndarray:
        x, y, w, h = self.map_box()
        return self.screenshot(name)[y : y + h, x : x + w]

    def click_map(self, fx: float, fy: float) -> tuple[int, int]:
        """A click at a fraction of the map canvas; returns the pixel, on the canvas."""
        from selenium.webdriver.common.action_chains import ActionChains

        canvas = self.driver.find_element("id", "map")
        _, _, w, h = self.map_box()
        px, py = round(fx * w), round(fy * h)
        # offsets count from the element's centre
        ActionChains(self.driver).move_to_element_with_offset(
            canvas, px - w // 2, py - h // 2
        ).click().perform()
        return px, py


def colour_pixels(img: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> int:
    """How many pixels are within ``tol`` of ``colour`` on every channel."""
    return int((np.abs(img - np.array(colour)) <= tol).all(axis=-1).sum())


def around(img: np.ndarray, px: int, py: int, r: int) -> np.ndarray:
    return img[max(0, py - r) : py + r, max(0, px - r) : px + r]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if _MISSING:  # only in CI: there the browser must be installed
        pytest.fail(f"CI=true but {' and '.join(_MISSING)} missing (apt-get install chromium)")
    shots = Path(os.environ.get("DESCEND_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screens"))
    shots.mkdir(parents=True, exist_ok=True)
    downloads = tmp_path_factory.mktemp("downloads")
    with ExploreServer() as server:
        p = Page(server.url, downloads, shots)
        try:
            yield p
        finally:
            p.quit()
    print(f"\nbrowser screenshots: {shots}")


@pytest.fixture(scope="module")
def _clock() -> float:
    return time.monotonic()


@pytest.fixture(autouse=True)
def _module_budget(_clock):
    """Every wait is bounded (WAIT_S); past the module's budget the rest fail at once."""
    spent = time.monotonic() - _clock
    if spent > MODULE_BUDGET_S:
        pytest.fail(f"the browser tests have run {spent:.0f} s, over {MODULE_BUDGET_S} s")


# --------------------------------------------------------------------------- the tests
DEFAULT = "fn=himmelblau&start=-3,-3&opt=gd,adam&speed=1000"


def test_the_page_loads_with_no_console_errors(page):
    page.open(DEFAULT)
    d = page.driver
    assert d.title == "descend explorer"
    assert d.find_element("id", "function-select").get_attribute("value") == "himmelblau"
    options = d.find_elements("css selector", "#function-select option")
    names = [o.get_attribute("value") for o in options]
    assert "rosenbrock" in names and len(names) > 5
    boxes = d.find_elements("css selector", "#optimizer-list input[type=checkbox][data-optimizer]")
    checked = {b.get_attribute("data-optimizer") for b in boxes if b.is_selected()}
    assert checked == {"gd", "adam"} and len(boxes) == 7
    assert set(page.statuses()) == {"gd", "adam"}
    assert d.find_element("id", "error-banner").get_attribute("hidden") is not None
    assert d.find_element("id", "formula-error").get_attribute("hidden") is not None
    # the canvases have been laid out and drawn (not blank)
    img = page.map_pixels("01-loaded")
    assert img.shape[0] > 300 and img.shape[1] > 300
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
    assert page.errors() == []


def test_a_click_on_the_map_draws_a_path_and_shows_the_status(page):
    page.open(DEFAULT)
    before = page.map_pixels("02-before-click")
    fx, fy = 0.66, 0.33  # on himmelblau's [-5, 5]²: near (1.5, 2), far from (-3, -3)
    _, _, w, h = page.map_box()
    near = around(before, round(fx * w), round(fy * h), 40)
    assert colour_pixels(near, GD_ORANGE) < 5  # no path there yet

    px, py = page.click_map(fx, fy)
    page.settle()
    after = page.map_pixels("03-after-click")

    start = [float(v) for v in page.hash_params()["start"].split(",")]
    assert start != [-3.0, -3.0] and 0 < start[0] < 3 and 0 < start[1] < 4, start
    statuses = page.statuses()
    assert list(statuses) == ["gd", "adam"]
    for s in statuses.values():
        assert s["status"] in {"gtol", "xtol", "ftol", "max_steps"} and s["success"] == "true"
        assert re.search(r"converged in \d+ steps", s["text"]), s["text"]
    # the new path, in gd's colour, starts at the click (the start marker covers 7 px)
    assert colour_pixels(around(after, px, py, 40), GD_ORANGE) > 30
    assert colour_pixels(around(after, px, py, 40), ADAM_BLUE) > 30
    # and the old one, from (-3, -3) in the lower left quarter, is gone
    lower_left = (slice(h // 2, h), slice(0, w // 2))
    assert colour_pixels(before[lower_left], GD_ORANGE) > 30
    assert colour_pixels(after[lower_left], GD_ORANGE) < 5
    # the pointer's readout and the snippet follow the new start
    readout = page.driver.find_element("id", "readout").text
    assert re.match(r"x = -?[\d.]+, y = -?[\d.]+, f ≈", readout), readout
    snippet = page.driver.find_element("id", "python-snippet").get_attribute("value")
    assert f"x0 = [{start[0]!r}, {start[1]!r}]" in snippet, snippet


def test_the_learning_rate_slider_changes_the_path(page):
    page.open("fn=himmelblau&start=-3,-3&opt=gd&gd=lr:0.01&speed=1000")
    first = page.statuses()["gd"]
    img0 = page.map_pixels("04-lr-0.01")

    def slide(value: float) -> None:
        page.js(
            """
            const s = document.querySelector("#lr-slider");
            s.value = String(arguments[0]);
            s.dispatchEvent(new Event("input", {bubbles: true}));
            s.dispatchEvent(new Event("change", {bubbles: true}));
            """,
            math.log10(value),
        )
        page.settle()

    slide(0.002)  # smaller steps: the same minimum, many more of them
    assert page.hash_params()["gd"] == "lr:0.002"
    val = page.driver.find_element("css selector", "input.val[data-for=gd]")
    assert val.get_attribute("value") == "0.002"
    slow = page.statuses()["gd"]
    n0 = int(re.search(r"converged in (\d+) steps", first["text"]).group(1))
    n1 = int(re.search(r"converged in (\d+) steps", slow["text"]).group(1))
    assert n1 > 2 * n0, (first["text"], slow["text"])
    img1 = page.map_pixels("05-lr-0.002")
    assert (np.abs(img1 - img0).sum(axis=-1) > 30).sum() > 20  # the step markers moved

    slide(0.1)  # past the 2/L edge at the start: gradient descent blows up
    assert page.hash_params()["gd"] == "lr:0.1"
    fast = page.statuses()["gd"]
    assert fast["success"] == "false" and fast["status"] in {"diverged", "nonfinite"}, fast
    assert "try lr <" in fast["text"], fast["text"]
    img2 = page.map_pixels("06-lr-0.1")
    assert (np.abs(img2 - img1).sum(axis=-1) > 30).mean() > 0.001
    # the 2/L mark is shown on gd's slider
    marker = page.driver.find_element("css selector", "#lr-slider ~ .edge-marker")
    assert marker.is_displayed()


def test_a_bad_formula_shows_the_error_inline(page):
    from selenium.webdriver.common.keys import Keys

    page.open(DEFAULT)
    box = page.driver.find_element("id", "formula-input")
    box.send_keys("x**2 + 3*y**", Keys.ENTER)
    page.settle(runs=False)
    err = page.driver.find_element("id", "formula-error")
    assert err.is_displayed()
    column = int(err.get_attribute("data-column"))
    assert 1 <= column <= len("x**2 + 3*y**") + 1
    assert err.find_element("css selector", ".msg").text
    assert err.find_element("css selector", ".caret").text == "^"
    assert box.get_attribute("aria-invalid") == "true"
    assert page.driver.find_element("id", "function-select").get_attribute("value") == ""
    items = page.driver.find_elements("css selector", "#status-list li")
    assert [li.text for li in items] == ["fix the formula to run"]
    assert page.driver.find_element("id", "error-banner").get_attribute("hidden") is not None
    page.screenshot("07-bad-formula")

    # fixed: the error goes, the formula's runs come
    box.send_keys("2", Keys.ENTER)
    page.settle()
    assert not err.is_displayed()
    assert set(page.statuses()) == {"gd", "adam"}
    assert page.hash_params()["formula"] == "x**2%20%2B%203*y**2"
    page.screenshot("08-formula-fixed")


STATE = (
    "fn=rosenbrock&start=-1.5,2&opt=gd,adam&gd=lr:0.001&adam=lr:0.05,b1:0.9,b2:0.999"
    "&steps=500&view=-2,2,-1,3&arrows=1&speed=1000"
)


def test_a_url_with_state_reproduces_it(page):
    d = page.driver
    page.open(STATE)
    assert urlsplit(d.current_url).fragment == STATE  # read, then written back unchanged
    assert d.find_element("id", "function-select").get_attribute("value") == "rosenbrock"
    assert list(page.statuses()) == ["gd", "adam"]
    statuses = page.statuses()
    assert all(s["status"] == "max_steps" for s in statuses.values())  # a slow valley
    assert "stopped at the step limit (500 steps)" in statuses["gd"]["text"]
    lr = {
        e.get_attribute("data-for"): e.get_attribute("value")
        for e in d.find_elements("css selector", "input.val[data-param=learning_rate]")
    }
    assert lr["gd"] == "0.001" and lr["adam"] == "0.05"
    assert d.find_element("id", "steps-input").get_attribute("value") == "500"
    assert d.find_element("id", "arrows-toggle").is_selected()
    assert not d.find_element("id", "basins-toggle").is_selected()
    assert d.find_element("id", "reset-zoom").is_enabled()  # a zoomed view
    page.screenshot("09-url-state")


def test_a_picture_made_by_hand_comes_back_from_its_link(page):
    """Set a state with the controls (function, optimizers, a learning rate, steps, a
    zoom, arrows, a click for the start), then open its URL in a fresh page: the same
    map, pixel for pixel (nearly)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    d = page.driver
    page.open("fn=himmelblau&opt=gd&speed=1000")
    Select(d.find_element("id", "function-select")).select_by_value("rosenbrock")
    page.settle()
    d.find_element("css selector", "#optimizer-list input[data-optimizer=adam]").click()
    page.settle()
    adam_lr = d.find_element("css selector", "input.val[data-for=adam][data-param=learning_rate]")
    adam_lr.clear()
    adam_lr.send_keys("0.05", Keys.ENTER)
    page.settle()
    steps = d.find_element("id", "steps-input")
    steps.send_keys(Keys.CONTROL, "a")  # (clear() would fire a change: back to 1000)
    steps.send_keys("600", Keys.ENTER)
    page.settle()
    d.find_element("id", "arrows-toggle").click()
    page.settle()
    # drag a zoom box over the middle of the map
    canvas = d.find_element("id", "map")
    _, _, w, h = page.map_box()
    drag = ActionChains(d).move_to_element_with_offset(canvas, -w // 4, -h // 4)
    drag.click_and_hold().move_by_offset(w // 4, h // 8).move_by_offset(w // 4, h // 8 + h // 4)
    drag.release().perform()
    page.settle()
    params = page.hash_params()
    assert "view" in params and d.find_element("id", "reset-zoom").is_enabled()
    page.click_map(0.3, 0.7)
    page.settle()
    params = page.hash_params()
    assert params["fn"] == "rosenbrock" and params["opt"] == "gd,adam"
    assert params["adam"].startswith("lr:0.05,") and params["steps"] == "600"
    assert params["arrows"] == "1"
    made = page.map_pixels("10-made-by-hand")
    made_status = page.statuses()

    url = d.current_url
    page.open(urlsplit(url).fragment)
    assert d.current_url == url
    again = page.map_pixels("11-from-its-link")
    assert page.statuses() == made_status
    assert made.shape == again.shape
    differ = np.abs(made - again).sum(axis=-1) > 30
    assert differ.mean() < 0.002, f"{differ.mean():.2%} of the map differs"


def test_export_json_csv_png_and_the_python_snippet(page):
    from PIL import Image

    page.open("fn=himmelblau&start=-3,-3&opt=gd,adam&steps=1000&speed=1000")
    d = page.driver
    before = set(page.downloads.iterdir())

    def download(button: str, name: str) -> Path:
        d.find_element("id", button).click()
        path = page.downloads / name
        deadline = time.monotonic() + WAIT_S
        # chromium writes a .crdownload and gives it its name once it is complete
        while not (path.exists() and path.stat().st_size > 0):
            assert time.monotonic() < deadline, f"no {name} in {sorted(page.downloads.iterdir())}"
            time.sleep(0.05)
        return path

    data = json.loads(download("export-json", "descend-himmelblau-paths.json").read_text())
    assert data["function"] == "himmelblau" and data["start"] == [-3, -3]
    assert data["steps"] == 1000 and data["domain"] == [[-5, 5], [-5, 5]]
    assert data["link"] == d.current_url
    assert [r["optimizer"] for r in data["runs"]] == ["gd", "adam"]
    for run in data["runs"]:
        assert run["success"] and len(run["path"]) == run["nit"] + 1 == len(run["loss"])
        assert run["path"][0] == [-3, -3]
        assert all(len(p) == 2 and all(math.isfinite(v) for v in p) for p in run["path"])
        assert abs(run["path"][-1][0] + 3.7793) < 1e-3 and abs(run["path"][-1][1] + 3.2832) < 1e-3

    text = download("export-csv", "descend-himmelblau-paths.csv").read_text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["optimizer", "learning_rate", "step", "x", "y", "loss", "status"]
    assert len(rows) == 1 + sum(len(r["path"]) for r in data["runs"])
    assert rows[1][:5] == ["gd", "0.01", "0", "-3", "-3"]
    last_gd = [r for r in rows[1:] if r[0] == "gd"][-1]
    assert int(last_gd[2]) == data["runs"][0]["nit"] and last_gd[6] == data["runs"][0]["status"]

    png = download("export-png", "descend-himmelblau.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(png)
    _, _, w, h = page.map_box()
    assert img.width > w and img.height >= h
    assert colour_pixels(np.asarray(img.convert("RGB")).astype(int), GD_ORANGE) > 30
    names = {p.name for p in set(page.downloads.iterdir()) - before}
    assert names == {f"descend-himmelblau{end}" for end in ("-paths.json", "-paths.csv", ".png")}

    # the snippet is Python that reproduces the page's runs
    snippet = d.find_element("id", "python-snippet").get_attribute("value")
    assert "ds.minimize(" in snippet and 'f = "himmelblau"' in snippet
    assert "x0 = [-3.0, -3.0]" in snippet and "ds.gd(0.01)" in snippet
    assert "max_steps=1000" in snippet
    printed: list[tuple] = []
    ns: dict = {"print": lambda *args: printed.append(args)}
    exec(compile(snippet, "<snippet>", "exec"), ns)  # noqa: S102
    assert [args[0] for args in printed] == [r["status"] for r in data["runs"]]
    for run in data["runs"]:
        res = ns[f"res_{run['optimizer']}"]
        assert res.nit == run["nit"] and res.status == run["status"]
        assert np.allclose(np.asarray(res.x), run["path"][-1], atol=1e-6)


def test_pause_step_and_play(page):
    # one step a second: the animation is caught early, paused, stepped by hand
    page.drain_logs()
    page.driver.get("about:blank")
    page.driver.get(page.url + "#fn=himmelblau&start=-3,-3&opt=gd&gd=lr:0.002&speed=1")
    counter = "return document.querySelector('#frame-counter').textContent"
    page.wait_for(f"{counter}.startsWith('step ')", "no frame counter")
    page.driver.find_element("id", "pause").click()
    k, total = map(int, re.match(r"step (\d+) / (\d+)", page.js(counter)).groups())
    assert total > 100 and k < total, (k, total)  # gd at 0.002 takes hundreds of steps
    for _ in range(3):
        page.driver.find_element("id", "step").click()
    assert page.js(counter) == f"step {k + 3} / {total}"
    assert page.js("return document.querySelector('#play').classList.contains('active')") is False
    # play at the fastest speed runs to the end, where the status list tells the steps
    page.js(
        """
        const s = document.querySelector("#speed");
        s.value = "3";
        s.dispatchEvent(new Event("input", {bubbles: true}));
        """
    )
    assert page.hash_params()["speed"] == "1000"
    page.driver.find_element("id", "play").click()
    page.settle()
    assert page.js(counter) == f"step {total} / {total}"
    assert page.driver.find_element("id", "step").get_attribute("disabled") is not None
    n = int(re.search(r"converged in (\d+) steps", page.statuses()["gd"]["text"]).group(1))
    assert n == total


def test_the_basins_toggle_paints_the_map_and_back(page):
    page.open("fn=himmelblau&start=-3,-3&opt=gd&speed=1000")
    info = page.driver.find_element("id", "basins-info")
    assert not info.is_displayed()
    before = page.map_pixels("09-basins-off")
    page.driver.find_element("id", "basins-toggle").click()
    page.wait_for(
        "return !document.querySelector('#basins-info').hidden", "no basins map came back"
    )
    page.settle()
    assert page.hash_params().get("basins") == "1"
    assert info.text.startswith("Basins of attraction (gd, lr "), info.text
    on = page.map_pixels("10-basins-on")
    # each quarter of the map holds one of himmelblau's four minima: each is tinted
    _, _, w, h = page.map_box()
    for rows in (slice(0, h // 2), slice(h // 2, h)):
        for cols in (slice(0, w // 2), slice(w // 2, w)):
            changed = (np.abs(on[rows, cols] - before[rows, cols]).sum(axis=-1) > 30).mean()
            assert changed > 0.3, (rows, cols, changed)
    page.driver.find_element("id", "basins-toggle").click()
    page.settle()
    assert "basins" not in page.hash_params() and not info.is_displayed()
    off = page.map_pixels("11-basins-off-again")
    assert (np.abs(off - before).sum(axis=-1) > 30).mean() < 0.002


def test_no_request_leaves_the_pages_origin_and_the_console_stayed_clean(page):
    """Runs last: it reads what every test before it made the page do."""
    assert page.errors() == []  # drains the logs too
    urls = page.requests
    paths = {urlsplit(u).path for u in urls if u.startswith(page.origin)}
    # not vacuous: the page and its files, and the API, were all seen
    assert {"/", "/static/app.js", "/static/style.css", "/api/functions"} <= paths, paths
    assert {"/api/landscape", "/api/run"} <= paths, paths
    outside = [
        u
        for u in urls
        if not (u.startswith(page.origin + "/") or u == page.origin)
        and urlsplit(u).scheme not in ("data", "blob")
        and u != "about:blank"
    ]
    assert outside == [], outside
