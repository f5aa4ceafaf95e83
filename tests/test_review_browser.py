"""The review page in a real headless browser (Debian's chromium): rows, filters, thumbnails, hostile text.

Each test opens the page from disk (file://) with its Content-Security-Policy in force, lets its
scripts run, and reads the resulting DOM. The view is set through the address (``#verdict=ai``),
the page's own way to share a filtered view. Skipped where chromium is absent.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from review_support import (
    PAYLOAD_SCRIPT,
    PWNED,
    RTL_NAME,
    make_corpus,
    need_chromium,
    parse,
    png_bytes,
    records_on_first_screen,
    table_rows,
)

from synthsight.review.browser import dump_dom
from synthsight.review.page import ReviewConfig, write_review


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    need_chromium()
    root = tmp_path_factory.mktemp("review")
    corpus = make_corpus(root)
    html = root / "out" / "review.html"
    html.parent.mkdir()
    write_review(ReviewConfig([str(corpus.report)], str(html), thumbs=20, workers=0, quiet=True))
    return corpus, html


def open_page(html: Path, view: str = "", console: bool = False):
    dom, log = dump_dom(html.as_uri() + (f"#{view}" if view else ""), console=console)
    tree = parse(dom)
    status = tree.find_id("status").attrs
    assert status.get("data-state") == "ready", status
    return tree, status, log


def test_every_record_is_there_page_by_page(page):
    corpus, html = page
    total = len(corpus.records)
    tree, status, _ = open_page(html, "size=25")
    assert len(table_rows(tree)) == 25 and status["data-matching"] == str(total)
    tree, _, _ = open_page(html, f"size=25&page={(total + 24) // 25}")
    assert len(table_rows(tree)) == total - 25 * ((total - 1) // 25)
    assert "of " + str(total) + " matching" in tree.find_id("count").text


def test_default_order_is_score_highest_first(page):
    tree, _, _ = open_page(page[1])
    scores = [float(n.text) for n in tree.iter("span") if "num" in n.attrs.get("class", "").split()]
    assert scores and scores == sorted(scores, reverse=True)


def test_verdict_filter_hides_every_other_verdict(page):
    corpus, html = page
    tree, status, _ = open_page(html, "verdict=ai&size=500")
    verdicts = [r.attrs["data-verdict"] for r in table_rows(tree)]
    assert verdicts and set(verdicts) == {"ai"} and len(verdicts) == corpus.count("ai")
    options = [o.text for o in tree.find_id("f-verdict").iter("option")]
    assert f"real ({corpus.count('real')})" in options  # counts of the other verdicts under the other filters


def test_error_and_path_filters_and_sorting(page):
    corpus, html = page
    tree, _, _ = open_page(html, "err=(any error)")
    assert [r.attrs["data-verdict"] for r in table_rows(tree)] == ["error"]
    tree, status, _ = open_page(html, "verdict=aii")  # a mistyped shared link shows nothing, not everything
    assert table_rows(tree) == [] and status["data-matching"] == "0"
    assert tree.find_id("count").text.startswith("No record matches these filters")
    tree, status, _ = open_page(html, "q=FOLDER-B&sort=path&dir=asc&size=500")
    paths = [n.attrs["title"] for n in tree.iter("div") if n.attrs.get("class") == "path"]
    expected = sorted(r.path for r in corpus.records if "/folder-b/" in r.path)
    assert paths == expected and status["data-matching"] == str(len(expected))


def test_thumbnails_load_from_the_pages_own_folder(page):
    corpus, html = page
    tree, status, _ = open_page(html, "size=50")
    images = [img for td in tree.find_id("rows").iter("td") if td.attrs["class"] == "c-thumb" for img in td.iter("img")]
    assert len(images) == 20  # --thumbs 20: the 20 highest-scoring judged records
    for img in images:
        assert img.attrs.get("data-loaded") == "1", img.attrs
        assert int(img.attrs["data-natural-width"]) == 40
        assert re.fullmatch(r"review_files/thumbs/[0-9a-f]{64}\.jpg", img.attrs["src"])
    assert status["data-thumbs-loaded"] == "20" and status["data-thumbs-failed"] == "0"
    overlays = [img for a in tree.find_id("rows").iter("a") for img in a.iter("img")]
    assert len(overlays) == 1 and overlays[0].attrs["src"] == next(tree.find_id("rows").iter("a")).attrs["href"]
    placeholders = [n.text for n in tree.iter("span") if n.attrs.get("class") == "ph"]
    assert any("beyond the top 20" in p for p in placeholders)


def test_script_payloads_in_names_evidence_and_errors_execute_nothing(page):
    corpus, html = page
    tree, _, log = open_page(html, "size=500", console=True)
    title = next(tree.iter("title")).text
    assert title == "synthsight review: verdicts.json" and PWNED not in title
    texts = tree.find_id("rows").text
    assert PAYLOAD_SCRIPT in texts  # shown, as text
    assert "photo-\\u202egnp.exe" in texts and RTL_NAME not in texts  # the override made visible
    assert "caf\\xe9.png" in texts
    # nothing built from the data became an element or a link
    assert [n for n in tree.iter("script") if n.attrs.get("src", "").startswith("x")] == []
    for node in tree.iter():
        for attr in ("href", "src"):
            value = node.attrs.get(attr)
            if value is not None and node.tag != "script":
                assert value.startswith("review_files/") and ".." not in value, (node.tag, value)
        assert not any(k.startswith("on") for k in node.attrs), node.attrs
    links = [a.attrs["href"] for a in tree.find_id("rows").iter("a")]
    assert links and all(re.fullmatch(r"review_files/gradcam/[0-9a-f]{64}\.png", h) for h in links)
    assert "Content Security Policy" not in log and "Refused to" not in log, log[-2000:]


def test_a_page_without_its_folder_says_what_is_missing(page, tmp_path):
    alone = tmp_path / "moved.html"
    shutil.copy(page[1], alone)
    dom, _ = dump_dom(alone.as_uri())
    tree = parse(dom)
    assert tree.find_id("status").attrs["data-state"] == "error"
    assert "keep the folder review_files beside this page" in tree.find_id("count").text


def test_the_policy_itself_blocks_inline_scripts_and_remote_loads(page, tmp_path):
    """Defence in depth: were any markup ever to slip into the page, its CSP would neither run nor fetch it."""
    html = page[1].read_text(encoding="utf-8")
    injected = '<script>document.title="pwned"</script><img src="https://example.com/x.png"><div id="status"'
    bad = page[1].with_name("injected.html")
    bad.write_text(html.replace('<div id="status"', injected, 1), encoding="utf-8")
    dom, log = dump_dom(bad.as_uri(), console=True)
    assert "<title>synthsight review: verdicts.json</title>" in dom
    assert "inline script violates the following Content Security Policy" in log
    assert "https://example.com/x.png' violates the following Content Security Policy" in log
    bad.unlink()


def _driver():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    exe, driver = need_chromium(), shutil.which("chromedriver")
    if driver is None:
        pytest.skip("chromedriver is not installed (Debian: apt-get install chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    from synthsight.review.browser import headless_args

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which(exe) or exe
    for arg in headless_args(Path(driver).parent / "unused")[:-1]:  # a fresh profile: chromedriver makes its own
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def test_keyboard_search_sort_by_click_and_paging(page, monkeypatch):
    monkeypatch.setenv("SE_AVOID_STATS", "true")  # selenium reports nothing anywhere
    corpus, html = page
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _driver()
    try:
        browser.get(html.as_uri())
        wait = WebDriverWait(browser, 10)
        ready = lambda b: b.find_element(By.ID, "status").get_attribute("data-state") == "ready"  # noqa: E731
        wait.until(ready)
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("/")
        assert browser.switch_to.active_element.get_attribute("id") == "f-q"
        browser.switch_to.active_element.send_keys("folder-b")
        in_b = sum("/folder-b/" in r.path for r in corpus.records)
        wait.until(lambda b: b.find_element(By.ID, "status").get_attribute("data-matching") == str(in_b))
        assert "q=folder-b" in browser.current_url
        verdict_options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#f-verdict option")]
        assert f"any verdict ({in_b})" in verdict_options  # facet counts follow the text filter
        browser.find_element(By.CSS_SELECTOR, "th[data-sort=path] button").click()
        wait.until(lambda b: "sort=path" in b.current_url)
        wait.until(ready)
        shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#rows .path")]
        assert shown == sorted(shown) and len(shown) == in_b
        browser.find_element(By.ID, "f-q").send_keys(Keys.ESCAPE)  # clears the search
        wait.until(lambda b: b.find_element(By.ID, "status").get_attribute("data-matching") == str(len(corpus.records)))
        browser.find_element(By.ID, "f-size").send_keys("25")
        wait.until(lambda b: "size=25" in b.current_url)
        browser.find_element(By.ID, "count").click()  # away from the form: letters are commands again
        ActionChains(browser).send_keys("n").perform()
        wait.until(lambda b: "page=2" in b.current_url)
        wait.until(ready)
        assert browser.find_element(By.ID, "p-num").get_attribute("value") == "2"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#rows tr")) == 25
    finally:
        browser.quit()


def test_an_empty_report_without_manifest_still_gives_a_page(tmp_path):
    need_chromium()
    from synthsight.reports.writers import CsvWriter

    report = tmp_path / "empty.csv"
    CsvWriter(report).close()
    html = tmp_path / "empty.html"
    write_review(ReviewConfig([str(report)], str(html), quiet=True))
    tree, status, _ = open_page(html)
    assert table_rows(tree) == [] and status["data-matching"] == "0"
    assert tree.find_id("count").text == "No record matches these filters (0 in all)."
    assert "no run manifest for empty.csv" in tree.find_id("warnings").text
    assert not [n for n in tree.iter("span") if n.attrs.get("class") == "threshold"]


def test_cards_histogram_bars_and_folders_filter_the_table(page, monkeypatch):
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    corpus, html = page
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def matching(b):
        return b.find_element(By.ID, "status").get_attribute("data-matching")

    browser = _driver()
    try:
        browser.get(html.as_uri())
        wait = WebDriverWait(browser, 10)
        wait.until(lambda b: b.find_element(By.ID, "status").get_attribute("data-state") == "ready")
        everything = str(len(corpus.records))
        card = browser.find_element(By.CSS_SELECTOR, '#verdict-cards .card[data-value="ai"]')
        card.click()  # a card filters the table by its verdict ...
        wait.until(lambda b: matching(b) == str(sum(r.verdict == "ai" for r in corpus.records)))
        assert "verdict=ai" in browser.current_url and card.get_attribute("aria-pressed") == "true"
        assert {e.get_attribute("data-verdict") for e in browser.find_elements(By.CSS_SELECTOR, "#rows tr")} == {"ai"}
        card.click()  # ... and a second click lifts the filter
        wait.until(lambda b: matching(b) == everything and "verdict=" not in b.current_url)
        bins = browser.find_elements(By.CSS_SELECTOR, "#hist .bin")
        bins[-1].click()  # the highest bar: scores from 1 - 1/len(bins) to 1
        low = 1 - 1 / len(bins)
        top = sum(r.score is not None and r.score >= round(low, 2) for r in corpus.records)
        wait.until(lambda b: f"min={low:.2f}" in b.current_url and matching(b) == str(top))
        browser.find_element(By.ID, "f-reset").click()
        wait.until(lambda b: matching(b) == everything)
        folder = next(b for b in browser.find_elements(By.CSS_SELECTOR, "#folders button") if "folder-b" in b.text)
        folder.click()  # a folder shows its own files only
        wait.until(lambda b: matching(b) == str(sum("/folder-b/" in r.path for r in corpus.records)))
    finally:
        browser.quit()


def test_a_tiles_records_top_tile_is_boxed_on_its_thumbnail_also_when_exif_turned_it(tmp_path):
    need_chromium()
    import hashlib
    import io

    from PIL import Image

    from synthsight.reports.writers import JsonWriter, Record

    records = []
    for name, orientation in (("wide.png", 1), ("turned.jpg", 6)):  # stored 200 x 100; EXIF 6 shows it 100 x 200
        buf = io.BytesIO()
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.new("RGB", (200, 100), (90, 120, 150)).save(buf, "PNG" if name.endswith("png") else "JPEG", exif=exif)
        (tmp_path / name).write_bytes(buf.getvalue())
        data = buf.getvalue()
        records.append(Record(path=str(tmp_path / name), verdict="ai", sha256=hashlib.sha256(data).hexdigest(),
                              bytes=len(data), format="PNG", width=200, height=100, score=0.9, tiles=4,
                              aggregate="max", top_tile=[50, 0, 100, 50]))  # fmt: skip
    plain = png_bytes(40, 30, 3)
    (tmp_path / "plain.png").write_bytes(plain)
    records.append(Record(path=str(tmp_path / "plain.png"), verdict="real", sha256=hashlib.sha256(plain).hexdigest(),
                          width=40, height=30, score=0.1))  # fmt: skip
    writer = JsonWriter(tmp_path / "r.json")
    writer.write(records)
    writer.close({"tool": "synthsight", "status": "complete", "threshold": 0.5})
    html = tmp_path / "out" / "review.html"
    html.parent.mkdir()
    write_review(ReviewConfig([str(tmp_path / "r.json")], str(html), thumbs=10, workers=0, quiet=True))
    tree, _, _ = open_page(html)
    boxes = {}
    for row in table_rows(tree):
        name = next(n.attrs["title"] for n in row.iter("div") if n.attrs.get("class") == "path").rsplit("/", 1)[-1]
        holder = [n for n in row.iter("span") if n.attrs.get("class") == "thumb"]
        assert holder and any(img.attrs.get("data-loaded") == "1" for img in holder[0].iter("img")), name
        boxes[name] = [n.attrs.get("style", "") for n in holder[0].iter("span") if n.attrs.get("class") == "tilebox"]
    assert boxes["plain.png"] == []  # no tiles model: no box
    assert boxes["wide.png"] == ["left: 25%; top: 0%; width: 25%; height: 50%;"]  # of 200 x 100
    assert boxes["turned.jpg"] == ["left: 50%; top: 0%; width: 50%; height: 25%;"]  # of 100 x 200, as shown


def test_the_first_screen_shows_records(page):
    """Issue 18 item 10: at 1400x1000 the summary filled the first screen and no record showed."""
    seen, height = records_on_first_screen(page[1])
    assert seen >= 3, f"{seen} records on a first screen {height} px high"
