"""Building export decks from stored records, a generate directory and the seed's project body."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.slide import Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.errors import InputError
from slidebatch.exporters.sources import (
    deck_from_directory,
    deck_from_project,
    deck_from_records,
    nearest_aspect,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def batch(**overrides: Any) -> BatchRecord:
    values: dict[str, Any] = {
        "id": "b1",
        "state": BatchState.COMPLETED_WITH_ERRORS,
        "style_prompt": "calm",
        "aspect_ratio": AspectRatio(4, 3),
        "requested_workers": None,
        "effective_workers": None,
        "total_slides": 3,
        "created_at": NOW,
        "title": "Deck",
    }
    values.update(overrides)
    return BatchRecord(**values)


def record(key: int, state: SlideState, image_file: str | None, **overrides: Any) -> SlideRecord:
    slide = Slide(id=f"c{key}", page_num=key, type=SlideType.CONTENT, title=f"T{key}")
    return SlideRecord(
        batch_id="b1", key=key, slide=slide, state=state, image_file=image_file, **overrides
    )


def test_records_give_ordered_slides_with_images_inside_the_batch_dir(tmp_path: Path) -> None:
    """Done slides get their file under batch_dir; failed ones and escapes get no image."""
    slides = [
        record(3, SlideState.ERROR, None, error_message="policy"),
        record(1, SlideState.DONE, "01.png", generation_time=1.5, attempts=2),
        record(2, SlideState.DONE, "../../etc/passwd"),
    ]
    deck = deck_from_records(batch(), slides, tmp_path)
    assert [s.page_num for s in deck.slides] == [1, 2, 3]
    assert deck.slides[0].image_path == tmp_path.resolve() / "01.png"
    assert deck.slides[0].attempts == 2
    assert deck.slides[1].image_path is None
    assert deck.slides[2].image_path is None
    assert deck.slides[2].error_message == "policy"
    assert deck.aspect_ratio == AspectRatio(4, 3)
    assert (deck.title, deck.batch_id, deck.created_at) == ("Deck", "b1", NOW)


def test_records_keep_a_placeholder_image_and_say_so(tmp_path: Path) -> None:
    """A locally drawn stand-in is exported as an image, flagged as a placeholder."""
    deck = deck_from_records(
        batch(), [record(1, SlideState.ERROR, "01.png", placeholder=True)], tmp_path
    )
    assert deck.slides[0].image_path is not None
    assert deck.slides[0].placeholder


def write_manifest(directory: Path, body: object) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps(body), encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "no manifest.json"),
        ([1, 2], "must be a JSON object"),
        ({"title": "x"}, "results must be a list"),
        ({"results": [1]}, r"results\[0\] must be an object"),
        ({"results": [{"title": 5.5, "page_num": "one"}]}, r"results\[0\].page_num"),
        ({"results": [{"title": ["x"]}]}, r"results\[0\].title must be a string"),
        ({"results": [], "aspect_ratio": "wide"}, "aspect_ratio is invalid"),
        ({"results": [], "created_at": "yesterday"}, "not an ISO 8601 date"),
        ({"results": [{"file": "../secret.png"}]}, "points outside"),
        ({"results": [{"file": "/etc/hostname"}]}, "points outside"),
    ],
)
def test_bad_manifest_is_an_input_error_naming_the_problem(
    tmp_path: Path, body: object, message: str
) -> None:
    """Missing, malformed or escaping manifests raise InputError with the place to fix."""
    directory = tmp_path / "out"
    if body is None:
        directory.mkdir()
    else:
        write_manifest(directory, body)
    with pytest.raises(InputError, match=message):
        deck_from_directory(directory)


def test_manifest_that_is_not_json(tmp_path: Path) -> None:
    """A manifest that is not JSON says so, with the line."""
    (tmp_path / "manifest.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        deck_from_directory(tmp_path)


def test_symlink_leading_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    """A file entry that is a symlink to somewhere outside is never followed."""
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    directory = write_manifest(tmp_path / "out", {"results": [{"file": "link.png"}]})
    (directory / "link.png").symlink_to(outside)
    with pytest.raises(InputError, match="points outside"):
        deck_from_directory(directory)


def test_directory_deck_reads_the_generate_shape(tmp_path: Path) -> None:
    """Every manifest field lands in the deck; results are put in page order."""
    directory = write_manifest(
        tmp_path / "out",
        {
            "batch_id": "b9", "title": "T", "style_prompt": "s", "aspect_ratio": "9:16",
            "created_at": "2025-01-02T03:04:05", "provider": "local", "total_time": 4.5,
            "results": [
                {"slide_id": "b", "page_num": 2, "type": "ending", "title": "Bye",
                 "file": None, "status": "error", "error_message": "boom", "attempts": 3},
                {"slide_id": "a", "page_num": 1, "type": "cover", "title": "Hi",
                 "file": "01-hi.png", "status": "done", "generation_time": 2.0,
                 "placeholder": True, "final_prompt": "p"},
            ],
        },
    )  # fmt: skip
    deck = deck_from_directory(directory)
    assert deck.aspect_ratio == AspectRatio(9, 16)
    assert deck.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (deck.batch_id, deck.provider, deck.total_time) == ("b9", "local", 4.5)
    first, second = deck.slides
    assert (first.client_id, first.slide_type, first.placeholder) == ("a", "cover", True)
    assert first.image_path == directory.resolve() / "01-hi.png"
    assert (second.status, second.error_message, second.attempts) == ("error", "boom", 3)


def test_project_body_resolves_images_and_fails_the_rest(
    make_image: Callable[..., Path],
) -> None:
    """Slides whose image URL resolves are done; unresolvable ones become failed slides."""
    image = make_image("a.png", (1344, 768))
    known = {"/api/images/b1/01.png": image}
    project = {
        "title": "Seed deck",
        "slides": [
            {"title": "One", "content_text": "c1", "image_url": "/api/images/b1/01.png"},
            {"title": "Two", "image_url": "https://elsewhere.example/x.png"},
            {"title": "Three"},
        ],
    }
    deck = deck_from_project(project, known.get, aspect_ratio=None)
    assert deck.title == "Seed deck"
    assert deck.aspect_ratio == AspectRatio(16, 9)  # read from the 1344x768 image
    assert [s.page_num for s in deck.slides] == [1, 2, 3]
    assert deck.slides[0].image_path == image
    assert (deck.slides[1].status, deck.slides[1].error_message) == ("error", "image not available")
    assert deck.slides[2].error_message == "no image_url"


def test_project_aspect_ratio_argument_wins() -> None:
    """An explicit ratio is used as is; without images the default is 16:9."""
    project: dict[str, Any] = {"slides": [{"title": "x"}]}
    assert deck_from_project(
        project, lambda _: None, aspect_ratio=AspectRatio(1, 1)
    ).aspect_ratio == AspectRatio(1, 1)
    assert deck_from_project(project, lambda _: None).aspect_ratio == AspectRatio(16, 9)
    assert deck_from_project(project, lambda _: None).title == "x"


@pytest.mark.parametrize(
    ("project", "message"),
    [
        ({"title": "x"}, "project.slides must be a list"),
        ({"slides": ["x"]}, r"project.slides\[0\] must be an object"),
        ({"slides": [{"title": {"a": 1}}]}, r"project.slides\[0\].title must be a string"),
        ({"slides": [{"page_num": True}]}, r"page_num must be an integer"),
    ],
)
def test_bad_project_is_an_input_error(project: dict[str, Any], message: str) -> None:
    """Malformed project bodies raise InputError naming the field."""
    with pytest.raises(InputError, match=message):
        deck_from_project(project, lambda _: None)


@pytest.mark.parametrize(
    ("size", "ratio"),
    [((1344, 768), "16:9"), ((1184, 864), "4:3"), ((768, 1344), "9:16"), ((1000, 300), "10:3")],
)
def test_nearest_aspect(size: tuple[int, int], ratio: str) -> None:
    """Upstream pixel sizes map to their nominal ratio; odd sizes keep their own."""
    assert nearest_aspect(*size) == AspectRatio.parse(ratio)
