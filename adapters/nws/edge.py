"""The network's edge: the resident's portal (マイナポータル) and its folders, under
`<data dir>/nws/portal/`.

    requests/    the portal's requests of residents for their own data (F9), one
                 `PortalRequestRow` per row (the city and the resident's 符号 there):
                 `inbox/`, `results/` (counts and every bad row with line, field and
                 reason, never the cell) and `done/`; `PortalEdge` hands the good rows to
                 `Network.ask_for_self`
    <code>/      `<notice id>.json`, each notice delivered to a resident of that city
                 (F2, F10): `PortalNotices`, the bridge's `Portal`
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from adapters.kit import counts, folders
from adapters.kit.folders import Source
from adapters.kit.rows import read_rows, rows_result, tally
from adapters.nws.bridge import Network, PortalRequestRow
from contracts.payloads import ResidentNotice

__all__ = ["PortalEdge", "PortalNotices"]


@dataclass(frozen=True)
class PortalEdge:
    """The portal's requests folder, answered through one of the network's instances
    (each sends a row on the instance of the row's city)."""

    network: Network
    root: Path

    def prepare(self) -> PortalEdge:
        """Create the requests folder."""
        folders.prepare(self.root, ("requests",))
        return self

    async def poll(self) -> int:
        """Handle every requests file waiting; how many were handled."""
        return await folders.serve(self.root, {"requests": self.import_requests})

    async def import_requests(self, source: Source) -> str:
        """F9 for one requests file; its result file."""
        rows = read_rows(source.data, PortalRequestRow)
        await self.network.ask_for_self(rows.good, source.stable_id)
        counts.rows(self.network.bridge, tally(rows))
        return rows_result(rows, source.name)


@dataclass(frozen=True)
class PortalNotices:
    """The residents' portal inboxes: one folder per city, one file per notice."""

    root: Path

    def deliver(self, municipality: str, notice: ResidentNotice) -> None:
        """Write the notice as `<root>/<municipality>/<notice id>.json`."""
        folder = self.root / municipality
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{notice.notice_id}.json"
        path.write_text(json.dumps(notice.model_dump(mode="json"), ensure_ascii=False))
