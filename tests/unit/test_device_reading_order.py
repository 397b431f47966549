"""dispatch.sensors.in_order: which reading of a device may be applied now when several hubs receive them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.sensors import DeviceOrder, in_order

T = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_the_next_reading_goes_at_once_and_a_gap_waits_for_the_window() -> None:
    order = DeviceOrder(4, T)
    assert in_order(order, 5, T + S, waited=False) == DeviceOrder(5, T + S)
    assert in_order(order, 6, T + 2 * S, waited=False) is None  # 5 may still be on its way to another hub
    assert in_order(order, 6, T + 2 * S, waited=True) == DeviceOrder(6, T + 2 * S)  # 5 is lost or skipped


def test_the_first_reading_of_a_device_waits_for_the_window() -> None:
    assert in_order(None, 9, T, waited=False) is None
    assert in_order(None, 9, T, waited=True) == DeviceOrder(9, T)


def test_a_redelivery_goes_at_once_and_leaves_the_order_alone() -> None:
    order = DeviceOrder(8, T + 8 * S)
    assert in_order(order, 8, T + 8 * S, waited=False) == order  # the store records it once
    assert in_order(order, 3, T + 3 * S, waited=False) == order  # later than the window: applied, order kept


def test_a_device_that_restarts_its_count_is_followed_from_its_new_numbers() -> None:
    order = DeviceOrder(500, T)
    restarted = in_order(order, 1, T + S, waited=False)
    assert restarted == DeviceOrder(1, T + S)
    assert in_order(restarted, 2, T + 2 * S, waited=False) == DeviceOrder(2, T + 2 * S)
