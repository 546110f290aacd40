"""The HTTP status table covers every error class, most specific first."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable
from types import ModuleType

import slidebatch
from slidebatch import errors
from slidebatch.api.errors import STATUS_BY_ERROR, status_for
from slidebatch.providers.outbound import DownloadRefused
from slidebatch.storage import errors as storage_errors
from slidebatch.storage.ownership import DataDirInUse
from slidebatch.storage.pg_owner import DatabaseInUse, DatabaseUnreachable


def _classes_in(modules: Iterable[ModuleType]) -> list[type[errors.SlidebatchError]]:
    """The SlidebatchError subclasses each of ``modules`` defines (not those it imports)."""
    found = []
    for module in modules:
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, errors.SlidebatchError) and value.__module__ == module.__name__:
                found.append(value)
    return found


def _error_classes() -> list[type[errors.SlidebatchError]]:
    return _classes_in((errors, storage_errors))


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


# Subclasses that answer exactly as their base does, on purpose: a refused image download is
# one more permanent upstream failure; a data folder in use is one more configuration error.
SAME_AS_BASE = {
    DownloadRefused: errors.PermanentProviderError,
    DataDirInUse: errors.ConfigError,
    DatabaseInUse: errors.ConfigError,
    DatabaseUnreachable: errors.ConfigError,
}


def _every_error_class() -> set[type[errors.SlidebatchError]]:
    names = [m.name for m in pkgutil.walk_packages(slidebatch.__path__, "slidebatch.")]
    wanted = [n for n in names if ".migrations" not in n and not n.endswith("__main__")]
    return set(_classes_in(importlib.import_module(name) for name in wanted))


def test_every_error_class_in_the_package_has_a_row_or_is_its_bases_on_purpose() -> None:
    """Any SlidebatchError subclass in any module is in the table or listed with its base."""
    named = {kind for kind, _ in STATUS_BY_ERROR}
    found = _every_error_class()
    assert set(SAME_AS_BASE) <= found
    assert [cls.__name__ for cls in found - named - set(SAME_AS_BASE)] == []
    for cls, base in SAME_AS_BASE.items():
        assert issubclass(cls, base)
        bare = cls.__new__(cls)  # status_for reads the class only; no constructor arguments
        assert status_for(bare) == status_for(base("x"))
