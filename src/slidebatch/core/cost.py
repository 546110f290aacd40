"""What images cost: a price per image, estimates, the spend so far, and ``max_cost`` (pure).

The price per image is, in order: nothing for the offline renderer; the mean of the
``usage.cost`` the provider reported for recent images (measured); ``UPSTREAM_PRICE_PER_IMAGE``
(configured); else unknown, and estimates say so (``None``) instead of guessing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from slidebatch.errors import LimitExceeded


class CostSource(StrEnum):
    FREE = "free"  # the offline renderer
    MEASURED = "measured"  # the provider's reported usage.cost, averaged
    CONFIGURED = "configured"  # UPSTREAM_PRICE_PER_IMAGE
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class UnitCost:
    """The price of one image (USD) and where it comes from."""

    per_image: float | None
    source: CostSource

    def estimate(self, images: int) -> float | None:
        """What ``images`` more images should cost; None when the price is unknown."""
        if self.per_image is None:
            return None
        return round(self.per_image * max(0, images), 6)


def unit_cost(*, local: bool, measured: float | None, configured: float | None) -> UnitCost:
    """The price per image: free (local), measured, configured, or unknown."""
    if local:
        return UnitCost(0.0, CostSource.FREE)
    if measured is not None:
        return UnitCost(measured, CostSource.MEASURED)
    if configured is not None:
        return UnitCost(configured, CostSource.CONFIGURED)
    return UnitCost(None, CostSource.UNKNOWN)


def spent(costs: Iterable[float | None]) -> float | None:
    """The sum of the reported costs; None when no image reported one."""
    known = [c for c in costs if c is not None]
    return round(sum(known), 6) if known else None


def check_max_cost(
    max_cost: float,
    images: int,
    unit: UnitCost,
    *,
    spent: float | None = None,
    name: str = "max_cost",
) -> None:
    """Refuse (``LimitExceeded``) a batch whose estimate is above ``max_cost``.

    ``spent``: what a continued batch paid already (USD); its ``images`` still to draw are
    counted on top of it, not the whole deck at today's price. ``name``: the cap as the
    caller gave it (``--max-cost`` on the command line).
    """
    if images <= 0:
        return  # nothing more to pay
    paid = spent or 0.0
    rest = unit.estimate(images)
    if rest is None and paid <= max_cost:
        return  # no price to estimate with; the cost guard watches the reported costs
    if rest is not None and paid + rest <= max_cost + 1e-9:
        return
    if spent is None and rest is not None:
        raise LimitExceeded(
            f"{images} images at ${unit.per_image:g} each ({unit.source}) are estimated at "
            f"${rest:g}, above {name} ${max_cost:g}; raise {name} or send fewer slides",
            limit_name="max_cost",
            limit=max_cost,
        )
    if rest is None:
        what = f"the batch paid ${paid:g} already"
    else:
        what = (
            f"the batch paid ${paid:g} already and its {images} slides not done are "
            f"estimated at ${rest:g} ({images} x ${unit.per_image:g}, {unit.source}): "
            f"${round(paid + rest, 6):g} in all"
        )
    raise LimitExceeded(
        f"{what}, above {name} ${max_cost:g}; raise {name} to finish the deck",
        limit_name="max_cost",
        limit=max_cost,
    )


def next_image_fits(max_cost: float, spent_so_far: float, in_flight: int, unit: UnitCost) -> bool:
    """Whether one more image can start without the batch passing ``max_cost``.

    Images in flight will be paid too, so they count at the unit price.
    """
    price = unit.per_image or 0.0
    return spent_so_far + price * (in_flight + 1) <= max_cost + 1e-9


def next_price(prices: Iterable[float | None], unit: UnitCost) -> UnitCost:
    """The price the next image is counted at: the dearest a batch's images cost so far,
    or ``unit`` when it is dearer (the batch's own images may cost more than estimated, or
    the price was unknown)."""
    known = [p for p in prices if p is not None]
    if not known:
        return unit
    return UnitCost(max(max(known), unit.per_image or 0.0), unit.source)


def images_in_flight_allowed(
    max_cost: float,
    spends: Iterable[float | None],
    prices: Iterable[float | None],
    unit: UnitCost,
) -> int | None:
    """How many images of a batch may be in flight at once under ``max_cost`` (the ones in
    flight now included); None: no limit (free images).

    The rule (README, max_cost): once one of the batch's images reported its cost, every image
    in flight and the next are priced at the dearest of the batch's reported costs and the
    ``unit`` price (so a configured price below what the upstream charges is overridden by
    what it charged), and as many fit as ``max_cost`` minus what was paid allows. Before
    that, when ``unit`` is not measured (configured or unknown), one image alone is let
    start (the probe) and its reported cost decides the rest: the cap is then passed by at
    most that one image when its price was unknown, and never by more than the images in
    flight at a decision made at a measured price (times what they cost above it).
    """
    paid = sum(c for c in spends if c is not None)
    known = [p for p in prices if p is not None]
    if unit.source is CostSource.FREE and not known:
        return None
    if _probing(known, unit):
        # The probe: one image alone, if its price (when configured) fits at all.
        return 1 if paid + (unit.per_image or 0.0) <= max_cost + 1e-9 else 0
    price = max([*known, unit.per_image or 0.0])
    if price <= 0:
        return None
    return max(0, math.floor((max_cost - paid) / price + 1e-9))


def room_for_next(
    max_cost: float,
    spends: Iterable[float | None],
    prices: Iterable[float | None],
    in_flight: int,
    unit: UnitCost,
) -> bool:
    """Whether a batch may start one more image under ``max_cost`` with ``in_flight``
    images running (``images_in_flight_allowed``).

    The one decision of the cost guard (``engine/cost_guard.py``) and a fleet's claims.
    """
    allowed = images_in_flight_allowed(max_cost, spends, prices, unit)
    return allowed is None or in_flight < allowed


def cap_reached(
    max_cost: float,
    spends: Iterable[float | None],
    prices: Iterable[float | None],
    in_flight: int,
    unit: UnitCost,
) -> bool:
    """Whether the batch must stop: no more image may start now, and none in flight can
    change that (it is not waiting for the probe's cost to price the rest)."""
    known = [p for p in prices if p is not None]
    if room_for_next(max_cost, spends, known, in_flight, unit):
        return False
    return not (_probing(known, unit) and in_flight > 0)


def _probing(known: list[float], unit: UnitCost) -> bool:
    """Whether a capped batch is still in its probe: none of its images reported a cost and
    the unit price is only configured or unknown (``images_in_flight_allowed``)."""
    return not known and unit.source in (CostSource.CONFIGURED, CostSource.UNKNOWN)


def no_room_left(
    max_cost: float,
    spends: Iterable[float | None],
    prices: Iterable[float | None],
    *,
    images: int = 1,
) -> bool:
    """Whether a batch cannot start ``images`` more images at its dearest price.

    ``spends``: what each slide paid in all (USD, every paid image); ``prices``: what each
    slide's latest image cost (USD), the dearest of which prices the next image. What a
    batch is checked against before its slides are dispatched (a restart, a re-run, a
    regenerate): the process may have died between the image that reached the cap and the
    cancel, and a regenerate of a finished batch has no watcher yet.
    """
    paid = [c for c in spends if c is not None]
    if not paid:
        return False
    dearest_only = UnitCost(0.0, CostSource.MEASURED)
    return not room_for_next(max_cost, paid, prices, images - 1, dearest_only)


@dataclass(frozen=True, slots=True)
class Spend:
    """What a batch's images cost as far as it is known.

    ``total``: USD reported by the provider plus ``estimated`` (None: no image has a figure);
    ``estimated``: the part of it that is the model's price (images found on disk after a
    crash, their answer lost); ``unknown``: images paid whose cost nobody knows. A total
    with unknown images is a lower bound, and says so.
    """

    total: float | None
    estimated: float = 0.0
    unknown: int = 0

    def text(self) -> str:
        """``$0.4``, ``$0.05 (estimated)``, ``at least $0.05, 11 costs unknown``, ..."""
        if self.total is None:
            return "cost unknown"
        money = f"${self.total:.4g}"
        if self.estimated > 0:
            whole = abs(self.estimated - self.total) < 1e-9
            money += " (estimated)" if whole else f" (${self.estimated:.4g} of it estimated)"
        if not self.unknown:
            return money
        plural = "" if self.unknown == 1 else "s"
        return f"at least {money}, {self.unknown} cost{plural} unknown"


def spend_of(slides: Iterable[tuple[float | None, bool, bool]]) -> Spend:
    """The ``Spend`` of slides given as (spent USD or None, estimated, has a paid image)."""
    rows = list(slides)
    total = spent(paid for paid, _, _ in rows)
    estimated = round(sum(paid or 0.0 for paid, guess, _ in rows if guess), 6)
    unknown = sum(1 for paid, _, drawn in rows if drawn and paid is None)
    return Spend(total, estimated, unknown)
