"""How many images a capped batch may have in flight (``core.cost.images_in_flight_allowed``)."""

from __future__ import annotations

from slidebatch.core.cost import (
    CostSource,
    UnitCost,
    cap_reached,
    images_in_flight_allowed,
    room_for_next,
)

UNKNOWN = UnitCost(None, CostSource.UNKNOWN)
CONFIGURED = UnitCost(0.05, CostSource.CONFIGURED)
MEASURED = UnitCost(0.134, CostSource.MEASURED)
FREE = UnitCost(0.0, CostSource.FREE)


def test_no_price_known_lets_one_image_start_alone() -> None:
    """Nothing measured and no price: the first image alone; its cost decides the rest."""
    assert images_in_flight_allowed(0.01, [], [], UNKNOWN) == 1
    assert room_for_next(0.01, [], [], 0, UNKNOWN)
    assert not room_for_next(0.01, [], [], 1, UNKNOWN)
    # Waiting for the probe's cost is not the cap reached.
    assert not cap_reached(0.01, [], [], 1, UNKNOWN)
    # Its cost came back above the cap: stop.
    assert cap_reached(0.01, [0.134], [0.134], 0, UNKNOWN)


def test_a_configured_price_is_probed_before_many_start() -> None:
    """Configured 0.05 under a 0.7 cap: one image first, not 14."""
    assert images_in_flight_allowed(0.7, [], [], CONFIGURED) == 1
    # It reported 0.134: the rest are priced at what was charged, not what was configured.
    assert images_in_flight_allowed(0.7, [0.134], [0.134], CONFIGURED) == 4
    assert not room_for_next(0.7, [0.134] * 5, [0.134] * 5, 0, CONFIGURED)
    assert cap_reached(0.7, [0.134] * 5, [0.134] * 5, 0, CONFIGURED)
    # A configured price above the cap lets none start.
    assert images_in_flight_allowed(0.01, [], [], CONFIGURED) == 0


def test_a_measured_price_lets_as_many_start_as_fit() -> None:
    assert images_in_flight_allowed(0.7, [], [], MEASURED) == 5
    assert images_in_flight_allowed(0.7, [0.2], [0.2], MEASURED) == 2  # the dearer one


def test_free_images_are_not_limited() -> None:
    assert images_in_flight_allowed(0.0, [], [], FREE) is None
    assert room_for_next(0.0, [], [], 50, FREE)
