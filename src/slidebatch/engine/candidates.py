"""Candidates rounds: a slide regenerated N times in a row, each image kept for the user.

``regenerate(candidates=N)`` starts the first round; each time the slide ends done, its image
is stored as a candidate before the slide's "done" event goes out (a page that lists the
candidates on that event finds it) and, while rounds are left, the slide goes straight back
to pending with the same prompt. A failed round ends the rounds (the images so far stay).
The slide shows its last image until the user picks another. Rounds left are in memory: a
restart finishes the round in flight and starts no more. They are also written with the slide
(``rounds_left``), which is what a fleet worker runs them from (``fleet/store.py``).
"""

from __future__ import annotations

from slidebatch.core.batch import SlideRecord
from slidebatch.core.states import SlideState
from slidebatch.storage.repository import BatchRepository

MAX_CANDIDATES = 4


def rounds_of(candidates: int) -> int:
    """Candidates rounds for ``candidates`` images (0: one plain image, no candidate)."""
    return min(candidates, MAX_CANDIDATES) if candidates > 1 else 0


class CandidateRounds:
    """The slides with candidates rounds still to go."""

    def __init__(self, repo: BatchRepository) -> None:
        self._repo = repo
        self._left: dict[tuple[str, int], int] = {}

    def want(self, batch_id: str, key: int, rounds: int) -> None:
        """``rounds`` images of slide ``key``, the first of which is being made now."""
        if rounds_of(rounds):
            self._left[(batch_id, key)] = rounds_of(rounds)
        else:
            self._left.pop((batch_id, key), None)

    def tracks(self, batch_id: str, key: int) -> bool:
        return (batch_id, key) in self._left

    async def keep(self, batch_id: str, key: int) -> None:
        """A round ended: store its image as a candidate; a failed round ends the rounds.

        Called before the slide's final event is published, so whoever hears "done" and
        lists the candidates finds this round's image among them.
        """
        if (batch_id, key) not in self._left:
            return
        record = await self._repo.get_slide(batch_id, key)
        if record.state is not SlideState.DONE or record.image_file is None:
            del self._left[(batch_id, key)]
            return
        await self._repo.add_candidate(batch_id, key, record.image_file)

    async def ended(self, batch_id: str, key: int) -> SlideRecord | None:
        """After the round's event: the slide reset for the next round, if one is due."""
        left = self._left.pop((batch_id, key), 0)
        if left <= 1:
            return None
        record = await self._repo.get_slide(batch_id, key)
        if record.state is not SlideState.DONE:
            return None
        self._left[(batch_id, key)] = left - 1
        return await self._repo.reset_slide(
            batch_id, key, visual_desc=None, final_prompt=record.final_prompt, rounds=left - 1
        )

    def forget(self, batch_id: str) -> None:
        for pair in [p for p in self._left if p[0] == batch_id]:
            del self._left[pair]
