"""Material turnaround: a request's deliveries count in delivery order, whatever order they were loaded in."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from auditor.kpis.turnaround import material_tat


class Request(NamedTuple):
    id: str
    category: str
    requested_at: datetime
    quantity: int


class Delivery(NamedTuple):
    request_id: str
    delivered_at: datetime
    quantity: int


def _row(result: dict, step: str) -> dict:
    return next(r for r in result["rows"] if r["category"] == "sales_kit" and r["step"] == step)


def test_deliveries_loaded_out_of_order_count_in_delivery_order() -> None:
    request = Request("R1", "sales_kit", datetime(2026, 3, 1), 5)
    deliveries = [  # as loaded: the latest first
        Delivery("R1", datetime(2026, 3, 20), 3),
        Delivery("R1", datetime(2026, 3, 3), 2),
        Delivery("R1", datetime(2026, 3, 10), 3),
    ]
    result = material_tat([request], deliveries, datetime(2026, 4, 1))
    assert _row(result, "first_delivery")["median"] == 2.0  # the earliest, not the first loaded
    assert _row(result, "complete_delivery")["median"] == 9.0  # 2 + 3 on 10 March reach 5; not 3 + 2 on 3 March
    assert _row(result, "complete_delivery")["within_target"] == 1  # 14-day target


def test_a_request_without_deliveries_is_open_at_both_steps() -> None:
    result = material_tat([Request("R2", "sales_kit", datetime(2026, 3, 25), 1)], [], datetime(2026, 4, 1))
    for step in ("first_delivery", "complete_delivery"):
        assert (_row(result, step)["open"], _row(result, step)["count"]) == (1, 0)
