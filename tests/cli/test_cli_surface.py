"""The CLI a newcomer meets: --version, a fast --help, checks before work, no litter, one naming."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slidebatch import __version__
from slidebatch.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# What `--help` must not load: each costs a noticeable part of a second to import.
HEAVY_MODULES = (
    "sqlalchemy",
    "fastapi",
    "pydantic",
    "pydantic_settings",
    "PIL",
    "pptx",
    "uvicorn",
    "httpx",
    "markdown_it",
)


@pytest.fixture
def xdg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-data")


@pytest.fixture
def run(tmp_path: Path, xdg: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("LLM_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "IMAGE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    for name in ("DATA_DIR", "LOG_DIR", "DATABASE_URL", "IMAGE_OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    monkeypatch.setenv("LOCAL_RENDER_LONG_SIDE", "160")
    return CliRunner()


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _deck(path: Path, slides: int, *, content: str = "a point") -> Path:
    items = [{"title": f"Slide {i}", "content_text": content} for i in range(1, slides + 1)]
    path.write_text(json.dumps({"title": "Deck", "slides": items}), encoding="utf-8")
    return path


def test_version_prints_the_package_version(run: CliRunner) -> None:
    """--version prints 'slidebatch X.Y.Z' and exits 0."""
    result = run.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"slidebatch {__version__}"


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (["generate"], "generate [OPTIONS] {DECK}"),
        (["export"], "export [OPTIONS] {DIR_OR_BATCH_ID}"),
        (["outline"], "outline [OPTIONS] {DOC}"),
        (["style"], "style [OPTIONS] {IMAGE}..."),
        (["keys", "revoke"], "revoke [OPTIONS] {ID}"),
    ],
)
def test_usage_names_arguments_as_the_readme_does(
    run: CliRunner, command: list[str], usage: str
) -> None:
    """`--help` names each argument as the README's synopsis does (it printed '{deck}')."""
    result = run.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert usage in result.output


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--help"], ["keys", "revoke", "--help"]])
def test_help_imports_no_heavy_module(argv: list[str]) -> None:
    """`--help`, entered as the console script does, loads no database, web, settings,
    validation or imaging library (lazy imports)."""
    code = (
        "import sys\n"
        f"sys.argv = ['slidebatch', *{argv!r}]\n"
        "from slidebatch.__main__ import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "Show this message and exit." in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_out_that_is_a_file_exits_2_before_any_work(
    run: CliRunner, tmp_path: Path, xdg: Path
) -> None:
    """--out naming a file: exit 2 with what to fix, and no database or image was made."""
    (tmp_path / "taken").write_text("x")
    result = run.invoke(app, ["generate", str(EXAMPLES / "deck-en.md"), "--out", "taken"])
    assert result.exit_code == 2, result.output
    assert "is a file; give a folder" in result.output
    assert not list(xdg.rglob("*"))


def test_out_that_cannot_be_created_exits_2(run: CliRunner, tmp_path: Path) -> None:
    """--out below a file cannot be a folder: exit 2 naming the file, no traceback."""
    (tmp_path / "file").write_text("x")
    result = run.invoke(app, ["generate", str(EXAMPLES / "deck-en.md"), "--out", "file/sub"])
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.output
    assert "Traceback" not in result.output


def test_slide_count_limit_applies_before_any_work(
    run: CliRunner, tmp_path: Path, xdg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deck past BATCH_MAX_SLIDES exits 2 naming the setting; nothing is stored."""
    monkeypatch.setenv("BATCH_MAX_SLIDES", "3")
    result = run.invoke(app, ["generate", str(_deck(tmp_path / "d.json", 4))])
    assert result.exit_code == 2, result.output
    assert "BATCH_MAX_SLIDES=3" in result.output
    assert not list(xdg.rglob("*"))
    assert not (tmp_path / "out").exists()


def test_text_limit_applies_to_the_cli(run: CliRunner, tmp_path: Path) -> None:
    """A slide text past MAX_CONTENT_CHARS exits 2 naming the field and the setting."""
    deck = _deck(tmp_path / "d.json", 1, content="x" * 5001)
    result = run.invoke(app, ["generate", str(deck)])
    assert result.exit_code == 2, result.output
    assert "slides[0].content_text" in result.output
    assert "MAX_CONTENT_CHARS" in result.output


def test_generate_leaves_only_its_output_in_the_current_folder(
    run: CliRunner, tmp_path: Path, xdg: Path
) -> None:
    """After generate the cwd holds the deck and out/ only; state is in the per-user folder."""
    deck = _deck(tmp_path / "d.json", 2)
    result = run.invoke(app, ["generate", str(deck)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "out"]
    assert (xdg / "slidebatch" / "slidebatch.db").is_file()
    assert list((xdg / "slidebatch" / "logs").glob("pipeline_*.log"))


def test_data_dir_option_chooses_where_state_lives(run: CliRunner, tmp_path: Path) -> None:
    """--data-dir puts the database, images and logs there."""
    state = tmp_path / "state"
    result = run.invoke(
        app, ["generate", str(_deck(tmp_path / "d.json", 1)), "--data-dir", str(state)]
    )
    assert result.exit_code == 0, result.output
    assert (state / "slidebatch.db").is_file()
    assert list((state / "images").rglob("*.png"))
    assert list((state / "logs").glob("pipeline_*.log"))


def test_output_images_are_not_a_second_copy(run: CliRunner, tmp_path: Path, xdg: Path) -> None:
    """An output image shares its bytes with the stored one (a hard link on one file system)."""
    result = run.invoke(app, ["generate", str(_deck(tmp_path / "d.json", 1)), "--out", "o"])
    assert result.exit_code == 0, result.output
    image = next((tmp_path / "o").glob("*.png"))
    assert image.stat().st_nlink == 2


def test_reexport_replaces_the_generated_file(run: CliRunner, tmp_path: Path) -> None:
    """generate --pptx then export DIR: one .pptx, the same name (no duplicate)."""
    deck = _deck(tmp_path / "d.json", 2)
    assert run.invoke(app, ["generate", str(deck), "--out", "o", "--pptx"]).exit_code == 0
    first = sorted(p.name for p in (tmp_path / "o").glob("*.pptx"))
    result = run.invoke(app, ["export", "o"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").glob("*.pptx")) == first == ["Deck.pptx"]


def test_export_out_named_like_another_format_exits_2(run: CliRunner, tmp_path: Path) -> None:
    """--out deck.pptx with two formats, or deck.pdf for a PPTX: exit 2, nothing written
    (it made a folder named deck.pptx, or a PPTX named deck.pdf)."""
    assert (
        run.invoke(app, ["generate", str(_deck(tmp_path / "d.json", 1)), "--out", "o"]).exit_code
        == 0
    )
    two = run.invoke(app, ["export", "o", "-f", "pptx", "-f", "pdf", "--out", "deck.pptx"])
    assert two.exit_code == 2, two.output
    assert "--out deck.pptx names one file; with 2 formats give a folder" in two.output
    wrong = run.invoke(app, ["export", "o", "-f", "pptx", "--out", "deck.pdf"])
    assert wrong.exit_code == 2, wrong.output
    assert "--out deck.pdf ends in .pdf but the format is pptx" in wrong.output
    assert not (tmp_path / "deck.pptx").exists()
    assert not (tmp_path / "deck.pdf").exists()
    right = run.invoke(app, ["export", "o", "-f", "pdf", "--out", "deck.pdf"])
    assert right.exit_code == 0, right.output
    assert (tmp_path / "deck.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.usefixtures("umask_022")
def test_files_follow_the_umask(run: CliRunner, tmp_path: Path) -> None:
    """Under umask 022 every written file (images, manifest, exports) is 0644."""
    deck = _deck(tmp_path / "d.json", 1)
    result = run.invoke(app, ["generate", str(deck), "--out", "o", "--pptx", "--zip"])
    assert result.exit_code == 0, result.output
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "o").iterdir()}
    assert set(modes.values()) == {0o644}, modes


def test_data_dir_that_is_a_file_exits_2_and_makes_no_output_folder(
    run: CliRunner, tmp_path: Path
) -> None:
    """--data-dir naming a file: exit 2 with what to fix, no traceback, no empty --out left."""
    (tmp_path / "afile").write_text("x")
    result = run.invoke(
        app, ["generate", str(_deck(tmp_path / "d.json", 1)), "--out", "o", "--data-dir", "afile"]
    )
    assert result.exit_code == 2, result.output
    assert "--data-dir afile is a file" in result.output
    assert not (tmp_path / "o").exists()


def test_two_slides_sharing_page_and_title_keep_two_files(run: CliRunner, tmp_path: Path) -> None:
    """Two slides with one page number and one title: two files, each named once in the manifest."""
    items = [
        {"title": "Same", "page_num": 1, "content_text": "first"},
        {"title": "Same", "page_num": 1, "content_text": "second"},
    ]
    (tmp_path / "d.json").write_text(json.dumps(items), encoding="utf-8")
    result = run.invoke(app, ["generate", "d.json", "--out", "o"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    files = [r["file"] for r in manifest["results"]]
    assert len(set(files)) == 2, files
    assert all((tmp_path / "o" / name).is_file() for name in files)


@pytest.mark.parametrize("where", ["checks", "loading the run"])
def test_ctrl_c_in_the_first_second_leaves_nothing_behind(
    run: CliRunner, tmp_path: Path, xdg: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Ctrl-C before the run's own handler is up (while the input is checked, or the engine
    loads with the data folder held): one clear line, exit 130 as the README says, no --out
    folder, no data folder made only for its lock file."""
    import slidebatch.cli.batch_run
    import slidebatch.cli.preflight

    def pressed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    if where == "checks":
        monkeypatch.setattr(slidebatch.cli.preflight, "check_limits", pressed)
    else:
        monkeypatch.setattr(slidebatch.cli.batch_run, "run_batch", pressed)
    result = run.invoke(app, ["generate", str(_deck(tmp_path / "d.json", 2)), "--out", "o"])
    assert result.exit_code == 130, result.output
    assert "Interrupted before any slide was started: nothing paid, nothing written." in " ".join(
        result.output.split()
    )
    assert "Aborted" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json"]
    assert not list(xdg.rglob("*"))


def test_the_data_folder_lock_keeps_no_owner_after_a_run(
    run: CliRunner, tmp_path: Path, xdg: Path
) -> None:
    """The lock file of a finished run names no owner (its pid is gone)."""
    result = run.invoke(app, ["generate", str(_deck(tmp_path / "d.json", 1)), "--out", "o"])
    assert result.exit_code == 0, result.output
    (lock,) = (xdg / "slidebatch").glob("*.lock")
    assert lock.read_text("utf-8") == ""


def test_ctrl_c_while_the_cli_loads_or_parses_says_so_and_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C before any command runs (modules loading: a traceback; the command line
    parsed: Typer's silent exit 130) ends with one line and exit 130."""
    import click

    import slidebatch.cli
    from slidebatch.__main__ import run

    def loading() -> None:
        raise KeyboardInterrupt

    def parsing() -> None:  # what Typer does with a Ctrl-C outside the command
        try:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as exc:
                raise click.exceptions.Exit(130) from exc
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)

    for cut in (loading, parsing):
        where = "main" if cut is loading else "app"
        monkeypatch.setattr(slidebatch.cli, where, cut)
        with pytest.raises(SystemExit) as ended:
            run()
        assert ended.value.code == 130
        assert capsys.readouterr().err == "Interrupted before the command started: nothing done.\n"
        monkeypatch.undo()
