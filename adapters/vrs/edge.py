"""VRS's edge: the request folders of one city's part of it.

Under the city's VRS root, each with `inbox/` (the site's tablet or the counter drops
`*.csv` there, written under another name and renamed), `results/` (`<name>.result.csv`:
accepted and rejected counts and every bad row with line, field and reason, never the
cell) and `done/` (the file, once answered):

    doses        the site's ticket readings, one `DoseRecord` per row (F12):
                 `Vrs.record_doses`
    transfer_in  the counter's transfer-in requests, one `TransferInRow` per row (F14):
                 `Vrs.ask_former`, which refuses a row without the register check (R04)
                 or, where the city asks, consent (R02)

Every row of both also names the staff account that made it and its terminal (`operator`,
`terminal`), checked against the city's roster before anything is sent, and every row,
taken or refused, goes into the edge's act log (adapters/kit/acts.py).

After each look at the folders, `Vrs.export` sends health management the doses not yet
exported (F13), so a dose read at the site goes out with the look that read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from adapters.kit import counts, folders
from adapters.kit.acts import ActCheck, RosterFile, log_acts, tokyo_today
from adapters.kit.folders import Source
from adapters.kit.rows import read_rows, rows_result, tally
from adapters.ports import ActLog
from adapters.vrs.bridge import PROCEDURE, Vrs
from adapters.vrs.transfers import TransferInRow
from contracts.payloads import DoseRecord

__all__ = ["VrsEdge"]


@dataclass(frozen=True)
class VrsEdge:
    """The doses and transfer_in request folders under the city's VRS root."""

    system: Vrs
    root: Path
    roster: RosterFile
    acts: ActLog
    today: Callable[[], date] = tokyo_today

    def _check(self) -> ActCheck:
        # Both folders send under §19(16) alone (R28, R32–R34).
        return ActCheck(self.roster.gate(), (PROCEDURE,), self.today())

    def prepare(self) -> VrsEdge:
        """Create the request folders."""
        folders.prepare(self.root, ("doses", "transfer_in"))
        return self

    async def poll(self) -> int:
        """Handle every request file waiting; then export what is new (F13)."""
        handled = await folders.serve(
            self.root, {"doses": self.import_doses, "transfer_in": self.import_transfers}
        )
        await self.system.export()
        return handled

    async def import_doses(self, source: Source) -> str:
        """F12 for one file of ticket readings; its result file."""
        rows = read_rows(source.data, DoseRecord, self._check())
        refused = await self.system.record_doses(rows.good, source.stable_id, rows.acts)
        await log_acts(self.acts, "doses", source.data, rows, refused)
        counts.rows(self.system.bridge, tally(rows, refused))
        return rows_result(rows, source.name, refused)

    async def import_transfers(self, source: Source) -> str:
        """F14 for one file of transfer-in requests; its result file."""
        rows = read_rows(source.data, TransferInRow, self._check())
        refused = await self.system.ask_former(rows.good, source.stable_id, rows.acts)
        await log_acts(self.acts, "transfer_in", source.data, rows, refused)
        counts.rows(self.system.bridge, tally(rows, refused))
        return rows_result(rows, source.name, refused)
