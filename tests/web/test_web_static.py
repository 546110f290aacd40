"""The page's static files: present, shipped by the package, and CSP-friendly."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from slidebatch.web import static_dir

REPO = Path(__file__).resolve().parents[2]
PAGE_FILES = ("index.html", "app.js", "style.css")


def test_static_dir_holds_the_page() -> None:
    """static_dir() points at a directory with index.html, app.js and style.css."""
    directory = static_dir()
    assert directory.is_dir()
    for name in PAGE_FILES:
        assert (directory / name).is_file(), name


def test_package_data_ships_every_static_file() -> None:
    """pyproject's package-data globs match every file under web/static, so a wheel ships it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["slidebatch"]
    package_root = REPO / "src" / "slidebatch"
    files = [p for p in (package_root / "web" / "static").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= set(PAGE_FILES)
    unshipped = [
        str(p.relative_to(package_root))
        for p in files
        if not any(fnmatch.fnmatch(p.relative_to(package_root).as_posix(), pat) for pat in patterns)
    ]
    assert unshipped == []


def test_module_imports_resolve_to_shipped_files() -> None:
    """Every relative ES-module import and every asset index.html names exists in the directory."""
    directory = static_dir()
    html = (directory / "index.html").read_text(encoding="utf-8")
    referenced = set(re.findall(r'(?:src|href)="([^"#:]+)"', html))
    for script in directory.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        referenced |= set(re.findall(r'from "\./([^"]+)"', text))
    assert referenced >= set(PAGE_FILES) - {"index.html"}
    missing = sorted(name for name in referenced if not (directory / name).is_file())
    assert missing == []


def test_page_needs_nothing_the_csp_blocks() -> None:
    """No inline script, inline handler, style attribute or external URL in the page's files."""
    directory = static_dir()
    html = (directory / "index.html").read_text(encoding="utf-8")
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+\s*=", html) is None
    assert re.search(r"\sstyle\s*=", html) is None
    for path in directory.iterdir():
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text(encoding="utf-8")
            assert re.search(r"https?://(?!www\.w3\.org/)", text) is None, path.name
            assert "innerHTML" not in text, path.name
