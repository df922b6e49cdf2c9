"""The manuals in docs/manual/ build to printable PDFs whose pages render and are not blank.

Real parts: headless Chromium prints the PDFs (tools/build_manuals.py), poppler's pdftoppm
renders pages to images, pdftotext and pdffonts read them back.
"""
import os
import re
import shutil
import subprocess

import pytest

from tools import build_manuals

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANUAL_DIR = os.path.join(ROOT, "docs", "manual")

# Each manual, with a heading its first page must carry.
MANUALS = {
    "station-admin.zh": "站点管理员手册",
    "station-admin.en": "Station administrator manual",
    "cardholder.zh": "持卡人指南",
    "cardholder.en": "Cardholder guide",
}


def _poppler(tool):
    path = shutil.which(tool)
    assert path, "{} is missing: install poppler-utils (`make system`)".format(tool)
    return path


def _run(args):
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout


def _gray_pixels(pgm_path):
    """Pixel values of a binary PGM (P5, 8 bit) as pdftoppm -gray writes it."""
    with open(pgm_path, "rb") as f:
        data = f.read()
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert header, "pdftoppm did not write a binary PGM"
    width, height = int(header.group(1)), int(header.group(2))
    pixels = data[header.end():]
    assert len(pixels) == width * height
    return pixels


def _headings(name):
    with open(os.path.join(MANUAL_DIR, name + ".md"), encoding="utf-8") as f:
        return [line for line in f if re.match(r"#{1,3} ", line)]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MANUALS))
def test_a_manual_prints_to_pages_that_are_not_blank(name, tmp_path):
    pdf = build_manuals.build(os.path.join(MANUAL_DIR, name + ".md"), str(tmp_path))
    pages = int(re.search(r"Pages:\s+(\d+)", _run([_poppler("pdfinfo"), pdf])).group(1))
    assert pages >= 2, "{}: {} page(s); the manual should fill more".format(name, pages)

    _run([_poppler("pdftoppm"), "-gray", "-r", "40", "-f", "1", "-l", "2", pdf, str(tmp_path / "page")])
    images = sorted(p for p in os.listdir(tmp_path) if p.startswith("page") and p.endswith(".pgm"))
    assert len(images) == 2, images
    for image in images:
        pixels = _gray_pixels(str(tmp_path / image))
        ink = sum(1 for value in pixels if value < 128) / len(pixels)
        assert ink > 0.01, "{} {} is blank ({:.2%} dark pixels)".format(name, image, ink)

    first_page = _run([_poppler("pdftotext"), "-f", "1", "-l", "1", pdf, "-"])
    assert MANUALS[name] in first_page, "{}: heading missing from page 1: {!r}".format(name, first_page[:200])
    if name.endswith(".zh"):
        fonts = _run([_poppler("pdffonts"), pdf])
        assert "WenQuanYi" in fonts, "{}: Chinese text not set in WenQuanYi Micro Hei:\n{}".format(name, fonts)


@pytest.mark.parametrize("name", sorted(MANUALS))
def test_every_picture_a_manual_shows_exists(name):
    with open(os.path.join(MANUAL_DIR, name + ".md"), encoding="utf-8") as f:
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", f.read())
    assert links, "{} shows no reader screens".format(name)
    missing = [link for link in links if not os.path.exists(os.path.join(MANUAL_DIR, link))]
    assert not missing, "{}: pictures not found: {}".format(name, missing)


@pytest.mark.parametrize("manual", ["station-admin", "cardholder"])
def test_the_english_version_has_the_chinese_sections(manual):
    zh, en = _headings(manual + ".zh"), _headings(manual + ".en")
    assert [h.split(" ")[0] for h in zh] == [h.split(" ")[0] for h in en], (zh, en)


def test_the_converter_makes_tables_lists_and_images():
    page = build_manuals.markdown_to_html(
        "# T\n\npara **b** `c`\n\n- one\n- two\n\n| a | b |\n|---|---|\n| ![x](p.png) | 2 |\n",
        "/docs", "t.zh.md")
    assert "<h1>T</h1>" in page and "<strong>b</strong>" in page and "<code>c</code>" in page
    assert "<ul><li>one</li><li>two</li></ul>" in page
    assert '<th>a</th>' in page and '<img alt="x" src="file:///docs/p.png">' in page
    assert 'lang="zh-CN"' in page
