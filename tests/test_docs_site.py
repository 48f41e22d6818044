"""The built documentation site, opened in a real headless browser.

Needs the site built (``sphinx-build -W -b html docs docs/_build/html``, or the
folder named by ``FASTMLP_DOCS_HTML``), Playwright (``pip install playwright``) and
a Chromium (Debian's ``chromium`` package, or ``FASTMLP_CHROMIUM`` naming the
executable). Where one is missing the tests skip with the reason; where
``FASTMLP_TESTS_REQUIRE`` names ``docs_site`` (CI, after building the site) they fail
instead.
"""

import functools
import http.server
import os
import pathlib
import shutil
import threading
import urllib.parse
import urllib.request

import pytest

from optional import optional, required

ROOT = pathlib.Path(__file__).resolve().parents[1]
SITE = pathlib.Path(os.environ.get("FASTMLP_DOCS_HTML", ROOT / "docs" / "_build" / "html"))
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("plot_*.py"))
PAGES = ["index.html", "auto_examples/index.html", "api/generated/fastmlp.MLPClassifier.html"]
# As root in a container, Chromium needs --no-sandbox; the network flags keep it
# from reaching for Google's services (the machine may have no network at all).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _unavailable(reason):
    if required("docs_site"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").is_file():
        _unavailable(f"the documentation site is not built in {SITE} "
                     "(sphinx-build -W -b html docs docs/_build/html)")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    playwright_api = optional("playwright.sync_api")
    executable = os.environ.get("FASTMLP_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if executable is None:
        _unavailable("no Chromium to drive (apt-get install chromium, or set "
                     "FASTMLP_CHROMIUM to its executable)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open(browser, url):
    """Load ``url``; returns the page and what went wrong while it loaded (console
    errors, uncaught exceptions, failed requests, HTTP errors)."""
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"exception: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, url
    page.wait_for_load_state("networkidle")
    return page, problems


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_without_errors(site_url, browser, path):
    page, problems = _open(browser, site_url + path)
    assert problems == []
    assert page.title()
    # the theme's layout ran: a navigation bar and a main article
    assert page.locator("nav").count() > 0
    assert page.locator("article").count() == 1
    # every link to another page of the site leads somewhere
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    for href in {h.split("#")[0] for h in hrefs if h.startswith(site_url)}:
        with urllib.request.urlopen(href) as reply:
            assert reply.status == 200, (path, href)
    page.close()


def test_every_gallery_thumbnail_loads(site_url, browser):
    page, problems = _open(browser, site_url + "auto_examples/index.html")
    thumbnails = page.locator(".sphx-glr-thumbcontainer img")
    assert thumbnails.count() == len(EXAMPLES) > 0
    sizes = thumbnails.evaluate_all("imgs => imgs.map(i => [i.complete, i.naturalWidth])")
    assert all(complete and width > 0 for complete, width in sizes), sizes
    # and each example's page shows at least one of its figures
    for example in EXAMPLES:
        url = urllib.parse.urljoin(site_url, f"auto_examples/{example.stem}.html")
        example_page, example_problems = _open(browser, url)
        figures = example_page.locator("img.sphx-glr-single-img, img.sphx-glr-multi-img")
        assert figures.count() >= 1, example.name
        loaded = figures.evaluate_all("imgs => imgs.map(i => i.naturalWidth > 0)")
        assert all(loaded), example.name
        assert example_problems == [], example.name
        example_page.close()
    assert problems == []


def test_api_page_shows_parameters_attributes_and_an_example(site_url, browser):
    page, _ = _open(browser, site_url + "api/generated/fastmlp.MLPClassifier.html")
    text = page.inner_text("article")
    for section in ("Parameters", "Attributes", "Examples", "hidden_layer_sizes",
                    "coefs_", "predict_proba"):
        assert section in text
    page.close()
