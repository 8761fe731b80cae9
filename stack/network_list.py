"""The network's permitted-inquiry list, taken from the routing policy's inquiry rows
between intermediate servers (the same list the hub routes by: one source of truth)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from adapters.kit.permits import NetworkList
from contracts.codes import SystemId
from contracts.payloads import PermittedListRow
from routing.policy import ANY, load_policy

__all__ = ["network_list"]


def network_list(directory: Path) -> NetworkList:
    """The list the network distributes (F8) and checks inquiries against (R30)."""
    policy = load_policy(directory)
    flagged = {(f.procedure, f.data_item) for f in policy.flags}
    rows = tuple(
        PermittedListRow(
            procedure=row.procedure,
            inquirer=None,
            provider=None if row.provider_org == ANY else row.provider_org,
            data_item=row.data_item,
            direction="inquiry",
            effective_from=row.effective_from,
            effective_to=row.effective_to,
            auto_response_disabled=(row.procedure, row.data_item) in flagged,
            retention_days=row.retention_days,
        )
        for row in policy.rows
        if row.direction == "inquiry"
        and row.inquirer_system is SystemId.NWS
        and row.provider_system is SystemId.INTERMEDIATE
    )
    digest = hashlib.sha256(
        json.dumps([r.model_dump(mode="json") for r in rows], sort_keys=True).encode()
    ).hexdigest()
    return NetworkList(digest[:16], rows)
