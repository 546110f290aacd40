"""The package imports only what `pip install .` installs: its declared runtime dependencies."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "slidebatch"
# Test and bench helpers shipped in the package may use the test extra.
TEST_ONLY = ("testing", "bench")


def _names(requirements: list[str]) -> set[str]:
    pattern = re.compile(r"^[A-Za-z0-9_.-]+")
    found = {m.group(0) for r in requirements if (m := pattern.match(r))}
    return {n.lower().replace("_", "-") for n in found}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _undeclared(paths: list[Path], declared: set[str]) -> set[str]:
    owners_of = packages_distributions()
    missing: set[str] = set()
    for path in paths:
        for module in _imports(path):
            if module in sys.stdlib_module_names or module == "slidebatch":
                continue
            owners = {d.lower().replace("_", "-") for d in owners_of.get(module, [module])}
            if not owners & declared:
                missing.add(f"{module} ({path.relative_to(ROOT)})")
    return missing


def test_runtime_modules_import_only_declared_dependencies() -> None:
    """Every third-party import outside testing/ and bench/ is in [project].dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in TEST_ONLY]
    missing = _undeclared(runtime, _names(project["dependencies"]))
    assert not missing, f"imported but not declared: {sorted(missing)}"


def test_the_server_runs_on_uvloop_and_httptools() -> None:
    """uvicorn's automatic choice (what ``slidebatch serve`` uses) finds libuv's event loop and
    the C HTTP parser installed: both are dependencies, not extras."""
    import uvicorn
    import uvloop

    async def app(scope: object, receive: object, send: object) -> None:
        """An ASGI app that is never called."""

    config = uvicorn.Config(app)
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
