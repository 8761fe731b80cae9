"""Plays the people around VRS for the demo and the tests: the vaccination site's tablet
reading tickets (F12) and the counter staff asking a new resident's former city (F14).
Never imported by the adapter's bridge."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from adapters.kit.acts import Act
from adapters.kit.rows import rows_csv
from contracts.examples import example_payload

__all__ = ["site_readings", "transfer_requests"]


def site_readings(doses: Iterable[tuple[str, int]], by: Act | None = None) -> bytes:
    """A tablet's upload: (ticket number, dose number) read at the site today, sent `by`
    the staff account at its terminal (the edge requires one: adapters/kit/acts.py)."""
    site = example_payload("dose_record").model_dump(mode="json")
    template = {k: v for k, v in site.items() if k not in ("kind", "ticket_ocr")}
    return rows_csv([template | {"ticket_number": t, "dose_number": n} for t, n in doses], by)


def transfer_requests(
    residents: Iterable[dict[str, Any]], former: str, by: Act | None = None
) -> bytes:
    """The counter's transfer-in requests, made `by` the clerk at a terminal: each new
    resident's My Number checked in the register, their consent on file and their My
    Number Card seen by that clerk (R02, R04)."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    clerk = "staff.madoguchi.01" if by is None else by.operator
    return rows_csv(
        [
            {
                "my_number": r["my_number"],
                "former_municipality": former,
                "ticket_number": r.get("ticket_number") or "",
                "register_confirmed": "true",
                "consent_reference": f"CONSENT-{r['basic_code']}",
                "id_document": "my_number_card",
                "checked_by": clerk,
                "checked_at": now,
            }
            for r in residents
        ],
        by,
    )
