"""The seed system's own React app, already built, runs its whole flow against slidebatch.

Building it needs node and the npm registry, so this runs only when ``SEED_FRONTEND_DIST``
names a built ``dist/`` (``bench/seed_frontend.py`` builds one); the contract tests in
``tests/api/test_seed_contract.py`` replay the same requests without a browser.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DIST = os.environ.get("SEED_FRONTEND_DIST")
CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not DIST, reason="SEED_FRONTEND_DIST is not set (no built seed frontend)")
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
def test_the_seed_frontend_runs_its_whole_flow(tmp_path: Path) -> None:
    """Every call the seed's pages make succeeds, except the one refusal, reported as such."""
    from bench.seed_frontend import trial_against

    assert DIST is not None
    summary = trial_against(Path(DIST), tmp_path)
    assert summary["unexpected_failures"] == []
    assert summary["checks"]["refusal_reported"] is True
    assert summary["ok"], summary
