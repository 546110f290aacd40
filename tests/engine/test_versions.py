"""Batch and slide change versions, and the cursors clients send back."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord
from slidebatch.core.slide_change import SlideChange
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.versions import Versions


def test_a_slide_change_moves_the_batch_and_names_only_that_slide() -> None:
    """After one slide changes, changed_after(old) is that slide; the batch version moved."""
    versions = Versions()
    before = versions.current("b")
    versions.slide_changed("b", 3)
    assert versions.current("b") > before
    assert versions.changed_after("b", before) == frozenset({3})
    assert versions.changed_after("b", versions.current("b")) == frozenset()


def test_a_bulk_change_means_every_slide_for_older_cursors() -> None:
    """batch_changed(keys=None) makes every older cursor get every slide (None)."""
    versions = Versions()
    versions.slide_changed("b", 1)
    old = versions.current("b")
    versions.batch_changed("b")
    assert versions.changed_after("b", old) is None
    versions.batch_changed("b", [2])
    assert versions.changed_after("b", versions.current("b") - 1) == frozenset({2})


def test_cursors_from_another_process_mean_send_everything() -> None:
    """A cursor carries the epoch: a foreign or malformed one reads as no cursor."""
    versions = Versions()
    for _ in range(7):
        versions.slide_changed("b", 1)
    cursor = versions.cursor("b", 7)
    assert versions.since(cursor, "b") == 7
    assert Versions().since(cursor, "b") is None
    assert versions.since("garbage", "b") is None
    assert versions.since(None, "b") is None
    epoch, _, tag = cursor.split(".")
    for digits in ("\u2460", "\u00b2", "-1", " 7"):  # digits to str.isdigit, not to int()
        assert versions.since(f"{epoch}.{digits}.{tag}", "b") is None


def test_a_cursor_of_another_batch_or_from_the_future_means_send_everything() -> None:
    """Read as a version, another batch's cursor (the counter is the process's) or one past
    the batch's version would make a client miss slides: both read as no cursor."""
    versions = Versions()
    versions.slide_changed("a", 1)
    versions.slide_changed("b", 1)
    versions.slide_changed("a", 2)
    of_a = versions.cursor("a", versions.current("a"))
    assert versions.since(of_a, "a") == versions.current("a")
    assert versions.since(of_a, "b") is None
    epoch, _, tag = versions.cursor("b", 0).split(".")
    assert versions.since(f"{epoch}.{versions.current('b')}.{tag}", "b") == versions.current("b")
    assert versions.since(f"{epoch}.{versions.current('b') + 1}.{tag}", "b") is None
    assert versions.since(f"{epoch}.{'9' * 30}.{tag}", "b") is None
    assert versions.since(f"{epoch}.{versions.current('b')}", "b") is None  # no tag


def test_changed_after_answers_like_a_walk_over_every_change() -> None:
    """Over many changes of a few slides, changed_after(v) is exactly the slides whose latest
    change is after v, for every v (the log is compacted along the way)."""
    versions = Versions()
    latest: dict[int, int] = {}
    for step in range(1000):
        key = (step * 7) % 5
        versions.slide_changed("b", key)
        latest[key] = versions.current("b")
    for v in range(versions.current("b") + 1):
        expected = frozenset(k for k, at in latest.items() if at > v)
        assert versions.changed_after("b", v) == expected


def test_a_batchs_change_log_stays_bounded_by_its_slides() -> None:
    """1000 changes of 5 slides keep at most a bounded log (latest version per slide, plus
    slack), not one entry per change."""
    versions = Versions()
    for step in range(1000):
        versions.slide_changed("b", step % 5)
    log = versions._slides["b"]  # the log itself: its size is the claim
    assert len(log.entries) <= 2 * 5 + 64


def test_slide_changes_leave_the_batch_fields_unchanged() -> None:
    """Only ``batch_changed`` moves the batch's own fields; slide changes move the version."""
    versions = Versions()
    versions.batch_changed("b", ())
    fields = versions.current("b")
    versions.slide_changed("b", 1)
    versions.slide_changed("b", 2)
    assert not versions.fields_changed_after("b", fields)
    versions.batch_changed("b", [3])
    assert versions.fields_changed_after("b", fields)
    assert not versions.fields_changed_after("never-seen", 0)
    versions.forget("b")
    assert versions.fields_changed_after("b", versions.current("b") - 1)


def _stored(begun: int) -> SlideChange:
    return SlideChange(MappingProxyType({"state": SlideState.GENERATING}), begun=begun)


def test_changes_after_a_version_are_what_each_slide_stored_in_order() -> None:
    """changes_after(v) lists each slide's stored changes after v in order; a change that
    came without what it stored makes its slide unknown (None)."""
    versions = Versions()
    versions.slide_changed("b", 1, _stored(1))
    held = versions.current("b")
    versions.slide_changed("b", 1, _stored(2))
    versions.slide_changed("b", 2, _stored(3))
    versions.slide_changed("b", 1, _stored(4))
    versions.batch_changed("b", [3])  # a reset: nothing stored is known
    versions.slide_changed("b", 3, _stored(5))
    after = versions.changes_after("b", held)
    assert after is not None
    assert {key: None if c is None else [x.begun for x in c] for key, c in after.items()} == {
        1: [2, 4],
        2: [3],
        3: None,
    }
    assert versions.changes_after("b", versions.current("b")) == {}
    assert versions.changes_after("never-seen", 0) == {}


def test_changes_are_kept_only_after_the_version_the_reader_holds() -> None:
    """settled(v) drops the changes up to v; asking from before v then answers None (read
    the database), as after a change of every slide."""
    versions = Versions()
    versions.slide_changed("b", 1, _stored(1))
    old = versions.current("b")
    versions.slide_changed("b", 1, _stored(2))
    held = versions.current("b")
    versions.slide_changed("b", 2, _stored(3))
    versions.settled("b", held)
    assert versions.changes_after("b", old) is None
    assert list((versions.changes_after("b", held) or {}).keys()) == [2]
    versions.batch_changed("b")
    assert versions.changes_after("b", held) is None


def test_changes_nobody_reads_stay_bounded() -> None:
    """A batch nobody polls keeps a bounded number of changes; an old version then reads."""
    versions = Versions()
    for step in range(1000):
        versions.slide_changed("b", step % 5, _stored(step + 1))
    assert len(versions._kept["b"].entries) <= 2 * 5 + 64  # the size is the claim
    assert versions.changes_after("b", 0) is None


def _row(state: BatchState = BatchState.RUNNING) -> BatchRecord:
    return BatchRecord(
        id="b", state=state, style_prompt="s", aspect_ratio=AspectRatio(16, 9),
        requested_workers=None, effective_workers=None, total_slides=0,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
    )  # fmt: skip


def test_a_start_and_an_end_say_what_they_stored_until_something_else_changes() -> None:
    """started() keeps the batch as it started (until a poll moves past it) and its row;
    a change of the row that does not say what it stored forgets the row; ended() keeps
    the final row and drops the start."""
    versions = Versions()
    versions.started(_row(), (), read_at=7)
    start = versions.start("b")
    assert start is not None
    assert (start.version, start.read_at) == (versions.current("b"), 7)
    assert versions.stored_batch("b") == _row()
    versions.slide_changed("b", 0, _stored(8))
    assert versions.stored_batch("b") == _row()  # a slide's change leaves the row as it is
    versions.batch_changed("b", ())
    assert versions.stored_batch("b") is None
    assert versions.start("b") is start
    versions.settled("b", start.version)
    assert versions.start("b") is None
    versions.started(_row(), (), read_at=9)
    versions.ended(_row(BatchState.COMPLETED))
    assert versions.start("b") is None
    assert versions.stored_batch("b") == _row(BatchState.COMPLETED)
    versions.forget("b")
    assert versions.stored_batch("b") is None
