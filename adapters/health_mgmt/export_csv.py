"""F13: VRS vaccination records as the CSV the health-management system imports, one row
per dose: basic code, ticket number and the dose's items. It never holds a My Number
(R22): the contract refuses one in any field, and the writer checks every cell it
produces once more before a byte leaves."""

from __future__ import annotations

import csv
import io

from contracts.codes import looks_like_my_number
from contracts.payloads import VaccinationExport

__all__ = ["HEADER", "MyNumberInExport", "export_csv"]

HEADER = (
    "basic_code",
    "ticket_number",
    "dose_number",
    "status",
    "vaccinated_on",
    "manufacturer",
    "lot_number",
    "vaccine_type",
    "product_name",
)


class MyNumberInExport(ValueError):
    """A cell of the export passes the My Number check digit; nothing is written (R22)."""


def export_csv(export: VaccinationExport, *, encoding: str = "cp932") -> bytes:
    """The export as CSV bytes (Shift_JIS by default, as the receiving systems expect)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for number, row in enumerate(export.rows, start=2):
        dose = row.dose
        cells = [
            str(row.basic_code),
            str(row.ticket_number),
            str(dose.dose_number),
            dose.status,
            dose.vaccinated_on.isoformat(),
            str(dose.manufacturer),
            str(dose.lot_number),
            dose.vaccine_type,
            dose.product_name or "",
        ]
        for column, cell in zip(HEADER, cells, strict=True):
            if looks_like_my_number(cell):
                raise MyNumberInExport(f"line {number}, {column}: passes the My Number check (R22)")
        writer.writerow(cells)
    return out.getvalue().encode(encoding)
