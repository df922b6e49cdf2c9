"""Render the manuals in docs/manual/ to printable PDFs with headless Chromium.

    python tools/build_manuals.py [--out build/manuals] [NAME.md ...]

Each Markdown file becomes NAME.html and NAME.pdf in --out (A4, CJK text in WenQuanYi Micro
Hei, images from docs/images/). The converter knows only what the manuals use: headings,
paragraphs, lists, tables, images, **bold**, `code` and links.
"""
import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANUAL_DIR = os.path.join(ROOT, "docs", "manual")

CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font-family: "WenQuanYi Micro Hei", sans-serif; font-size: 11pt; line-height: 1.6;
       color: #000; }
h1 { font-size: 20pt; border-bottom: 2px solid #000; padding-bottom: 4px; }
h2 { font-size: 15pt; margin-top: 1.4em; page-break-after: avoid; }
h3 { font-size: 12.5pt; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 0.6em 0; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border: 1px solid #555; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #eee; }
img { height: 40px; image-rendering: pixelated; border: 1px solid #999; }
code { font-family: "WenQuanYi Micro Hei Mono", monospace; background: #f2f2f2; padding: 0 2px; }
"""


class ManualError(Exception):
    """The manual could not be built; the message says what to do."""


def _inline(text, base_dir):
    """Escape text and turn images, links, **bold** and `code` into HTML."""
    out = []
    pos = 0
    pattern = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)|\[([^\]]+)\]\(([^)]+)\)|\*\*(.+?)\*\*|`([^`]+)`")
    for m in pattern.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        if m.group(2) is not None:
            src = m.group(2)
            if "://" not in src:
                src = "file://" + os.path.abspath(os.path.join(base_dir, src))
            out.append('<img alt="{}" src="{}">'.format(html.escape(m.group(1)), html.escape(src)))
        elif m.group(4) is not None:
            out.append('<a href="{}">{}</a>'.format(html.escape(m.group(4)), html.escape(m.group(3))))
        elif m.group(5) is not None:
            out.append("<strong>{}</strong>".format(html.escape(m.group(5))))
        else:
            out.append("<code>{}</code>".format(html.escape(m.group(6))))
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_html(text, base_dir, title):
    """The subset of Markdown the manuals use, as a whole HTML page."""
    body = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        heading = re.match(r"(#{1,4}) +(.*)", line)
        if heading:
            level = len(heading.group(1))
            body.append("<h{0}>{1}</h{0}>".format(level, _inline(heading.group(2), base_dir)))
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.match(r"^\|[\s:|-]+\|?$", lines[i]):
                    rows.append(_cells(lines[i]))
                i += 1
            head, rest = rows[0], rows[1:]
            body.append("<table><tr>{}</tr>".format("".join("<th>{}</th>".format(_inline(c, base_dir)) for c in head)))
            for row in rest:
                body.append("<tr>{}</tr>".format("".join("<td>{}</td>".format(_inline(c, base_dir)) for c in row)))
            body.append("</table>")
        elif re.match(r"\s*([-*]|\d+\.) ", line):
            ordered = bool(re.match(r"\s*\d+\. ", line))
            items = []
            while i < len(lines) and lines[i].strip():
                item = re.match(r"\s*(?:[-*]|\d+\.) +(.*)", lines[i])
                if item:
                    items.append(item.group(1))
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            tag = "ol" if ordered else "ul"
            body.append("<{0}>{1}</{0}>".format(tag, "".join("<li>{}</li>".format(_inline(t, base_dir)) for t in items)))
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#{1,4} |\||\s*([-*]|\d+\.) )", lines[i]):
                para.append(lines[i].strip())
                i += 1
            body.append("<p>{}</p>".format(_inline(" ".join(para), base_dir)))
    lang = "zh-CN" if ".zh." in title else "en"
    return ('<!doctype html><html lang="{}"><head><meta charset="utf-8"><title>{}</title>'
            "<style>{}</style></head><body>\n{}\n</body></html>\n").format(lang, html.escape(title), CSS, "\n".join(body))


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise ManualError("no Chromium found: install it (`make system`, Debian package chromium)")


def build(md_path, out_dir, timeout_s=120):
    """Write NAME.html and NAME.pdf for one manual into out_dir; return the PDF's path."""
    name = os.path.splitext(os.path.basename(md_path))[0]
    with open(md_path, encoding="utf-8") as f:
        page = markdown_to_html(f.read(), os.path.dirname(os.path.abspath(md_path)), os.path.basename(md_path))
    os.makedirs(out_dir, exist_ok=True)
    html_path = os.path.abspath(os.path.join(out_dir, name + ".html"))
    pdf_path = os.path.abspath(os.path.join(out_dir, name + ".pdf"))
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(page)
    with tempfile.TemporaryDirectory(prefix="manual-chromium-") as profile:
        cmd = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--user-data-dir=" + profile, "--no-pdf-header-footer",
               "--allow-file-access-from-files", "--print-to-pdf=" + pdf_path, "file://" + html_path]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ManualError("Chromium did not print {} within {} s; try again on a less busy machine".format(name, timeout_s))
    if done.returncode != 0 or not os.path.exists(pdf_path) or os.path.getsize(pdf_path) == 0:
        raise ManualError("Chromium could not print {} (exit {}): {}".format(name, done.returncode, done.stderr.strip()[-400:]))
    return pdf_path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="build_manuals", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "manuals"))
    parser.add_argument("files", nargs="*", help="Markdown files (default: every docs/manual/*.md)")
    args = parser.parse_args(argv)
    files = args.files or sorted(os.path.join(MANUAL_DIR, n) for n in os.listdir(MANUAL_DIR) if n.endswith(".md"))
    try:
        for path in files:
            print(build(path, args.out))
    except (ManualError, OSError) as exc:
        print("build_manuals: {}".format(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
