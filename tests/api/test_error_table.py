"""The HTTP status table covers every error class, most specific first."""

from __future__ import annotations

import inspect

from slidebatch import errors
from slidebatch.api.errors import STATUS_BY_ERROR, status_for
from slidebatch.storage import errors as storage_errors


def _error_classes() -> list[type[errors.SlidebatchError]]:
    found = []
    for module in (errors, storage_errors):
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, errors.SlidebatchError) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_error_class_has_a_row_in_the_status_table() -> None:
    """Each SlidebatchError subclass (errors.py and storage) is named in STATUS_BY_ERROR."""
    named = {kind for kind, _ in STATUS_BY_ERROR}
    missing = [cls.__name__ for cls in _error_classes() if cls not in named]
    assert len(_error_classes()) >= 14
    assert missing == []


def test_no_row_is_hidden_behind_a_more_general_one() -> None:
    """A class's row comes before every row of its base classes, so its own status applies."""
    kinds = [kind for kind, _ in STATUS_BY_ERROR]
    for index, kind in enumerate(kinds):
        earlier = kinds[:index]
        assert not [base for base in earlier if issubclass(kind, base)], kind.__name__


def test_unnamed_subclasses_fall_back_to_their_base_row() -> None:
    """A subclass defined elsewhere gets its nearest named base's status."""

    class Odd(errors.Conflict):
        pass

    assert status_for(Odd("x")) == 409
    assert status_for(errors.SlidebatchError("x")) == 500
