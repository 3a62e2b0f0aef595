"""``twin run`` writes report.html at the end, and the page renders in a real browser.

25 minutes of ``scenarios/pilot-1h.toml`` (the block trip at 20 min and a pack snapshot at 15 min are in
it) through the command line; then Debian's chromium, headless and offline, takes a screenshot of the
page, and every plot of the page is found in it pixel for pixel: each ``<img data-plot>`` is drawn inside
its 1 px border (the page's CSS, ``#ddd``), at its own size (the page's column is wider than the plots),
with the PNG's pixels. A plot that did not decode or was not drawn leaves no such box.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from tests.conftest import SCENARIOS, RunFiles, twin_run

BORDER = 221  # img{border:1px solid #ddd} in adapters/io/html_page.py
SHOT_COPY = Path("/tmp/report_screenshot.png")  # the last screenshot, to look at by hand


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunFiles:
    return twin_run(SCENARIOS / "pilot-1h.toml", tmp_path_factory.mktemp("report") / "out", "--duration-s", "1500")


def _plots(html: str) -> list[tuple[str, np.ndarray]]:
    """``(data-plot, RGB 0..255)`` of every plot of the page, in page order."""
    out = []
    for tag in re.findall(r"<img [^>]*>", html):
        name = re.search(r'data-plot="([^"]+)"', tag)
        src = re.search(r'src="data:image/png;base64,([^"]+)"', tag)
        assert name and src, tag[:200]
        rgb = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.group(1))), format="png")[..., :3]
        out.append((name.group(1), (rgb * 255).round().astype(np.int64)))
    return out


def test_twin_run_writes_the_report(run: RunFiles) -> None:
    from adapters.io.run_report import PLOTS

    assert run.returncode == 0, run.stderr
    page = run.out / "report.html"
    assert f"report: {page.resolve()}" in run.stdout.splitlines()
    html = page.read_text(encoding="utf-8")
    names = [n for n, _ in _plots(html)]
    assert names == [p for p in PLOTS if p not in ("hil", "controller_link")]  # no HIL, no link in this run
    assert "Missing or incomplete" not in html  # every file there (packs.parquet: one snapshot at 900 s)
    assert "1,200 s (12:20:00)</td><td>trip_bess_block</td><td>battery block 3" in html
    for name, rgb in _plots(html):
        colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
        drawn = (rgb < 230).any(axis=2).mean()
        assert len(colours) > 50 and drawn > 0.02, (name, len(colours), drawn)  # lines and areas, not a blank


def _border_runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int, int]]:
    """``(row, first column, length)`` of every horizontal run of border pixels at least ``min_len`` long."""
    out = []
    for y in np.nonzero(mask.sum(axis=1) >= min_len)[0]:
        d = np.diff(np.concatenate([[0], mask[y].astype(np.int8), [0]]))
        for a, b in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0], strict=True):
            if b - a >= min_len:
                out.append((int(y), int(a), int(b - a)))
    return out


def test_the_report_renders_in_headless_chromium(run: RunFiles, tmp_path: Path) -> None:
    """Open report.html in Debian's chromium (headless, no network needed), a window tall enough for the whole
    page, and find every plot in the screenshot (module docstring). ``.ci/run`` installs chromium."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed here (.ci/run installs it)")
    assert run.returncode == 0, run.stderr
    page = run.out / "report.html"
    plots = _plots(page.read_text(encoding="utf-8"))
    width, height = 1400, 9000
    shot = tmp_path / "report.png"
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000"]
    cmd = [exe, *flags, f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert shot.is_file(), p.stderr[-2000:]
    shutil.copyfile(shot, SHOT_COPY)
    img = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(np.int64)
    assert img.shape[:2] == (height, width) and img.std() > 20  # not a blank page
    content = np.nonzero((img < 250).any(axis=(1, 2)))[0]
    assert content.max() < height - 100, "the page is longer than the window: raise the height"
    runs = _border_runs((img == BORDER).all(axis=2), min_len=min(rgb.shape[1] for _, rgb in plots))
    found = set(runs)
    y_min = 0
    for name, rgb in plots:
        h, w, _ = rgb.shape
        # the box's top and bottom borders: one row each, w + 2 long, h + 1 rows apart, below the plot before
        top = next(((y, x) for y, x, n in runs if y >= y_min and n == w + 2 and (y + h + 1, x, n) in found), None)
        assert top is not None, f"plot {name!r} ({w} x {h} px) not found in the screenshot below row {y_min}"
        y, x = top
        drawn = img[y + 1 : y + 1 + h, x + 1 : x + 1 + w]
        diff = np.abs(drawn - rgb)
        assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 8, (name, diff.mean())  # the PNG as decoded
        y_min = y + h + 2
