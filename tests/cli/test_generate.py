"""``slidebatch generate`` and ``config show``: outputs, exit codes and one-line messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from slidebatch.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def run(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in ("LLM_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY", "IMAGE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    for name in ("DATA_DIR", "LOG_DIR", "DATABASE_URL", "IMAGE_OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)
    # The per-user data folder (platformdirs reads XDG_DATA_HOME), away from the cwd.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.setenv("LOCAL_RENDER_LONG_SIDE", "320")
    return CliRunner()


def test_generate_writes_images_and_manifest(run: CliRunner, tmp_path: Path) -> None:
    """The English example becomes 5 PNGs of the exact 16:9 size plus a manifest; exit 0."""
    result = run.invoke(app, ["generate", str(EXAMPLES / "deck-en.md"), "--out", "out", "--pptx"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8"))
    assert manifest["successful"] == manifest["total_slides"] == 5
    assert manifest["aspect_ratio"] == "16:9"
    for entry in manifest["results"]:
        with Image.open(tmp_path / "out" / entry["file"]) as image:
            assert image.size == (320, 180)
        assert entry["status"] == "done"
    assert manifest["results"][0]["file"].startswith("01-")
    assert list((tmp_path / "out").glob("*.pptx"))


def test_generate_is_deterministic(run: CliRunner, tmp_path: Path) -> None:
    """Generating the same deck twice gives byte-identical images."""
    deck = str(EXAMPLES / "deck-zh.json")
    assert run.invoke(app, ["generate", deck, "--out", "a"]).exit_code == 0
    assert run.invoke(app, ["generate", deck, "--out", "b"]).exit_code == 0
    first = sorted((tmp_path / "a").glob("*.png"))
    second = sorted((tmp_path / "b").glob("*.png"))
    assert [p.name for p in first] == [p.name for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))


def test_aspect_option_sets_the_pixel_size(run: CliRunner, tmp_path: Path) -> None:
    """--aspect 9:16 renders portrait slides of the exact size."""
    result = run.invoke(
        app, ["generate", str(EXAMPLES / "deck-en.json"), "--aspect", "9:16", "--out", "p"]
    )
    assert result.exit_code == 0, result.output
    with Image.open(next((tmp_path / "p").glob("*.png"))) as image:
        assert image.size == (180, 320)


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "no such file"),
        ('{"slides": [\n  {"title": "a",}\n]}', [], "line 2"),
        ('{"slides": [{"content_text": "no title"}]}', [], "title"),
        ('[{"title": "a"}]', ["--aspect", "16:0"], "aspect_ratio"),
        ('[{"title": "a"}]', ["--aspect", "wide"], "W:H"),
        ('[{"title": "a"}]', ["--workers", "zero"], "--workers"),
        ('[{"title": "a"}]', ["--style", "x", "--style-file", "y.txt"], "not both"),
        ("", [], "no slides"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(
    run: CliRunner, tmp_path: Path, content: str | None, args: list[str], message: str
) -> None:
    """Bad input: exit code 2, one message naming the problem, no traceback."""
    deck = tmp_path / "deck.json"
    if content is not None:
        deck.write_text(content, encoding="utf-8")
    result = run.invoke(app, ["generate", str(deck), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreadable_encoding_is_reported(run: CliRunner, tmp_path: Path) -> None:
    """A deck that is not UTF-8 is refused with exit code 2."""
    deck = tmp_path / "deck.md"
    deck.write_bytes(b"\xff\xfe\x00bad")
    result = run.invoke(app, ["generate", str(deck)])
    assert result.exit_code == 2
    assert "UTF-8" in result.output


def test_config_show_masks_secrets(run: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """config show prints the settings with the API key masked."""
    monkeypatch.setenv("LLM_API_KEY", "sk-or-v1-secret-value-1234")
    result = run.invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert "sk-or-v1-secret" not in result.output
    assert "****1234" in result.output
    assert "BATCH_MAX_WORKERS" in result.output


def test_invalid_configuration_stops_with_the_names(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BATCH_DEFAULT_WORKERS above BATCH_MAX_WORKERS: exit 2 naming both."""
    monkeypatch.setenv("BATCH_DEFAULT_WORKERS", "30")
    result = run.invoke(app, ["generate", str(EXAMPLES / "deck-en.md")])
    assert result.exit_code == 2
    assert "BATCH_DEFAULT_WORKERS" in result.output
    assert "BATCH_MAX_WORKERS" in result.output


def test_generate_names_files_by_their_real_type(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upstream answering JPEG gives NN-slug.jpg files holding JPEG, named so in the manifest."""
    from slidebatch.testing.fake_upstream import FakeUpstreamConfig, FakeUpstreamServer, ImageFormat

    config = FakeUpstreamConfig(
        rpm=None, latency_median=0.0, latency_p95=0.0, image_format=ImageFormat.JPEG
    )
    with FakeUpstreamServer(config) as server:
        monkeypatch.setenv("LLM_API_KEY", "sk-test-0123456789abcdef")
        monkeypatch.setenv("LLM_API_BASE", server.openrouter_base)
        result = run.invoke(app, ["generate", str(EXAMPLES / "deck-en.json"), "--out", "j"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "j" / "manifest.json").read_text("utf-8"))
    for entry in manifest["results"]:
        assert entry["file"].endswith(".jpg")
        with Image.open(tmp_path / "j" / entry["file"]) as image:
            assert image.format == "JPEG"
    assert not list((tmp_path / "j").glob("*.png"))


def test_cut_text_and_missing_glyphs_reach_the_manifest_and_summary(
    run: CliRunner, tmp_path: Path
) -> None:
    """A slide drawn with cut text or a glyph no font has says so in manifest.json and output."""
    long = "\n".join(f"- point {i} " + "with many words " * 8 for i in range(30))
    deck = tmp_path / "deck.json"
    deck.write_text(
        json.dumps(
            {
                "slides": [
                    {"title": "Fine", "type": "cover"},
                    {"title": "Hieroglyph \U00013000", "content_text": "- ok"},
                    {"title": "Too much", "content_text": long},
                    {"title": "Shaken \U0001fae8 [b]x", "content_text": "- \ue000"},
                ]
            }
        ),
        encoding="utf-8",
    )
    result = run.invoke(app, ["generate", str(deck), "--out", "w"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text("utf-8"))
    warnings = [entry["warnings"] for entry in manifest["results"]]
    assert warnings[0] == []
    assert "U+13000" in warnings[1][0]
    assert any("cut to fit" in w for w in warnings[2])
    assert "U+13000" in result.output
    assert "cut to fit" in result.output
    assert "U+E000" in warnings[3][0]
    assert "'Shaken \U0001fae8 [b]x'" in result.output  # as text, not as a repr's escapes


def test_a_spent_quota_stops_generate_and_a_rerun_resumes(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daily cap stops the run at once (exit 3, says when it resets); a re-run finishes it."""
    from slidebatch.testing.fake_upstream import FakeUpstreamConfig, FakeUpstreamServer, Fault

    config = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0)
    deck = str(EXAMPLES / "deck-en.json")
    with FakeUpstreamServer(config) as server:
        monkeypatch.setenv("LLM_API_KEY", "sk-test-0123456789abcdef")
        monkeypatch.setenv("LLM_API_BASE", server.openrouter_base)
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        server.force(Fault.QUOTA_DAILY)
        first = run.invoke(app, ["generate", deck, "--out", "q"])
        assert first.exit_code == 3, first.output
        assert "quota is spent" in first.output
        assert "UTC" in first.output
        assert "Run the same command again" in first.output
        kept = json.loads((tmp_path / "q" / "manifest.json").read_text("utf-8"))
        written = [r["file"] for r in kept["results"] if r["file"] is not None]
        assert kept["total_slides"] == 5
        assert len(written) == kept["successful"]  # paid slides are on disk already
        assert all((tmp_path / "q" / name).is_file() for name in written)
        second = run.invoke(app, ["generate", deck, "--out", "q"])
        stats = server.stats()["totals"]
    assert second.exit_code == 0, second.output
    manifest = json.loads((tmp_path / "q" / "manifest.json").read_text("utf-8"))
    assert manifest["successful"] == manifest["total_slides"] == 5
    assert stats["by_outcome"].get("quota_daily") == 1
    assert stats["by_outcome"].get("ok", 0) == 5  # in-flight attempts landed: none paid twice


def test_offline_run_says_it_cost_zero_in_the_summary_and_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offline renderer is free: the summary says $0 and the manifest has cost 0 (batch
    and each slide), as the API does; null would mean a price not known."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMAGE_PROVIDER", "local")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("LOCAL_RENDER_LONG_SIDE", "320")
    (tmp_path / "d.json").write_text('{"slides": [{"title": "A"}, {"title": "B"}]}', "utf-8")
    result = CliRunner().invoke(app, ["generate", "d.json", "--out", "o"])
    assert result.exit_code == 0, result.output
    assert "cost: free (offline renderer)" in result.output
    assert "2/2 slides" in result.output
    assert ", spent $0 (completed)" in result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text("utf-8"))
    assert manifest["cost"] == 0.0
    assert [(r["cost"], r["spent"]) for r in manifest["results"]] == [(0.0, 0.0)] * 2
