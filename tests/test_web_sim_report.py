"""The simulator's HTML report (``gpuplane simulate llm --html``) rendered in a real headless
Chromium: it loads from a file with no network, its plots decode, its tables show every policy."""

from __future__ import annotations

from chromium import Chromium
from gpuplane.cli import main


def test_the_simulator_report_renders_in_chromium(tmp_path):
    report = tmp_path / "report.html"
    argv = ["simulate", "llm", "--format", "synthetic", "--requests", "400", "--rate", "20"]
    argv += ["--policies", "fcfs", "fair", "--window", "5", "--no-progress", "--html", str(report)]
    assert main(argv) == 0
    with Chromium(tmp_path / "profile") as browser:
        browser.open(report.as_uri())
        assert browser.evaluate("document.title").startswith("gpuplane simulate llm")
        images = "[...document.images].map(i => i.complete && i.naturalWidth > 0)"
        assert browser.wait_for(f"{images}.length === 3 && {images}.every(Boolean)")
        headings = browser.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)")
        assert headings[:2] == ["Overview", "Per tenant"]
        overview = browser.evaluate("document.querySelector('pre').innerText")
        assert "fcfs" in overview and "fair" in overview
        external = "performance.getEntriesByType('resource').filter(e => !e.name.startsWith('data:'))"
        assert browser.evaluate(f"{external}.length") == 0
        browser.screenshot(tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 10_000
