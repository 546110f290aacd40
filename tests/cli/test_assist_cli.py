"""`slidebatch style` and `slidebatch outline`: offline, and through the fake upstream's model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from slidebatch.cli import app
from slidebatch.core.deck import parse_deck
from slidebatch.core.slide import SlideType
from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer

KEY = "sk-or-v1-cli-chat-test"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("LLM_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "IMAGE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstreamServer]:
    """The configured provider is OpenRouter at the fake upstream on loopback."""
    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, expected_api_key=KEY)
    with FakeUpstreamServer(config) as server:
        monkeypatch.setenv("IMAGE_PROVIDER", "openrouter")
        monkeypatch.setenv("LLM_API_KEY", KEY)
        monkeypatch.setenv("LLM_API_BASE", server.openrouter_base)
        yield server


def _png(path: Path, colour: str) -> Path:
    Image.new("RGB", (48, 27), colour).save(path)
    return path


def test_offline_outline_of_the_readme_is_a_deck(run: CliRunner) -> None:
    """No key: the README becomes an 8-slide Markdown deck that `generate` reads."""
    result = run.invoke(app, ["outline", str(README), "--slides", "8"])
    assert result.exit_code == 0, result.output
    deck = parse_deck(result.stdout, fmt="markdown")
    assert len(deck.slides) == 8
    assert deck.slides[0].type is SlideType.COVER
    assert deck.slides[0].title == "slidebatch"
    assert deck.slides[-1].type is SlideType.ENDING


def test_offline_style_names_the_images_colours(run: CliRunner, tmp_path: Path) -> None:
    """No key: the style prompt comes from the image's colours."""
    result = run.invoke(app, ["style", str(_png(tmp_path / "a.png", "#204080"))])
    assert result.exit_code == 0, result.output
    assert "#204080" in result.stdout


def test_outline_and_style_through_the_model(
    run: CliRunner, tmp_path: Path, model: FakeUpstreamServer
) -> None:
    """With a key, both are chat calls (the image sent as input), answered by the fake model."""
    doc = tmp_path / "doc.md"
    doc.write_text("# Plan\n\n## One\n- a\n\n## Two\n- b\n", encoding="utf-8")
    outlined = run.invoke(app, ["outline", str(doc), "-n", "4"])
    styled = run.invoke(app, ["style", str(_png(tmp_path / "b.png", "#A03020"))])
    assert outlined.exit_code == 0, outlined.output
    assert styled.exit_code == 0, styled.output
    assert [s.title for s in parse_deck(outlined.stdout, fmt="markdown").slides] == [
        "Plan",
        "One",
        "Two",
        "Thank you",
    ]
    assert "#A03020" in styled.stdout
    rows = model.stats()["requests"]
    assert [len(r["input_images"]) for r in rows] == [0, 1]
    assert all(r["status"] == 200 for r in rows)


@pytest.mark.parametrize(
    ("command", "content", "message"),
    [
        ("outline", b"   \n", "empty"),
        ("outline", b"<!-- -->\n", "empty (only comments, separators or front matter)"),
        ("outline", b"---\n---\n", "empty (only comments, separators or front matter)"),
        ("style", b"not an image", "not an image"),
        ("style", b"\x89PNG" + b"\0" * (50 * 1024 * 1024), "at most"),
    ],
)
def test_bad_input_is_exit_2_saying_why(
    run: CliRunner, tmp_path: Path, command: str, content: bytes, message: str
) -> None:
    """An empty or near-empty document, a non-image, a 50 MB file: exit 2 and one line saying
    what is wrong."""
    path = tmp_path / "input"
    path.write_bytes(content)
    result = run.invoke(app, [command, str(path)])
    assert result.exit_code == 2
    assert message in result.output


def test_a_model_that_never_writes_a_deck_is_exit_1(
    run: CliRunner, tmp_path: Path, model: FakeUpstreamServer
) -> None:
    """Two unreadable outlines: exit 1, the error says the repair failed too."""
    doc = tmp_path / "doc.md"
    doc.write_text("# Plan\n[[outline:bad_always]]\n", encoding="utf-8")
    result = run.invoke(app, ["outline", str(doc), "-n", "3"])
    assert result.exit_code == 1
    assert "also after one repair" in result.output
