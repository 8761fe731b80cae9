"""The network's permitted-inquiry list and its provision permits (情報提供許可証).

The network checks every inquiry against the list before it issues a permit with the
route (R30); the intermediate servers keep the distributed copy and check every inbound
request against it too (R35), and provide only on a permit that matches the inquiry and is
still valid (R36). Pure functions over the contract's models; each refusal has a code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.codes import SystemId
from contracts.envelope import new_message_id
from contracts.payloads import (
    InquiryRequest,
    PermittedListRow,
    PermittedListUpdate,
    ProvisionPermit,
)

__all__ = ["PERMIT_TTL", "NetworkList", "PermitRefused", "check_permit", "issue_permit"]

PERMIT_TTL = timedelta(minutes=10)
ROUTE = (SystemId.INTERMEDIATE, SystemId.NWS, SystemId.INTERMEDIATE)
_JST = ZoneInfo("Asia/Tokyo")


class PermitRefused(ValueError):
    """An inquiry or a provision the list or the permit does not allow; `code` says which."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code


@dataclass(frozen=True)
class NetworkList:
    """One version of the permitted-inquiry list, as distributed (F8)."""

    version: str
    rows: tuple[PermittedListRow, ...]

    @classmethod
    def from_update(cls, update: PermittedListUpdate) -> NetworkList:
        """The list an update carries."""
        return cls(update.list_version, update.rows)

    def check(
        self, procedure: str, data_item: str, inquirer: str, provider: str, day: date
    ) -> PermittedListRow:
        """The row that permits this inquiry on this day; PermitRefused if none does."""
        listed = [
            row
            for row in self.rows
            if str(row.procedure) == procedure
            and str(row.data_item) == data_item
            and row.direction in ("inquiry", "both")
            and row.inquirer in (None, inquirer)
            and row.provider in (None, provider)
        ]
        if not listed:
            raise PermitRefused("not_on_list", f"{procedure} {data_item} is not on the list")
        for row in listed:
            if row.effective_from <= day and (row.effective_to is None or day <= row.effective_to):
                return row
        raise PermitRefused("outside_validity", "no row of the list is valid on that day")


def issue_permit(
    network_list: NetworkList,
    inquiry: InquiryRequest,
    *,
    procedure: str,
    data_items: Sequence[str],
    now: datetime,
    ttl: timedelta = PERMIT_TTL,
    permit_id: UUID | None = None,
) -> ProvisionPermit:
    """The network's permit for an inquiry whose every data item the list allows (R30);
    `permit_id` is given when the permit must be the same one if issued again."""
    day = now.astimezone(_JST).date()
    for item in data_items:
        network_list.check(procedure, item, str(inquiry.inquirer), str(inquiry.provider), day)
    return ProvisionPermit(
        permit_id=permit_id or new_message_id(),
        inquiry_id=inquiry.inquiry_id,
        inquirer=inquiry.inquirer,
        provider=inquiry.provider,
        list_version=network_list.version,
        issued_at=now,
        expires_at=now + ttl,
        route=ROUTE,
    )


def check_permit(
    permit: ProvisionPermit,
    inquiry: InquiryRequest,
    local_list: NetworkList,
    *,
    procedure: str,
    data_items: Sequence[str],
    now: datetime,
) -> None:
    """What the providing intermediate server checks before it answers (R35, R36)."""
    if inquiry.permit_id != permit.permit_id or permit.inquiry_id != inquiry.inquiry_id:
        raise PermitRefused("permit_mismatch", "the permit is not for this inquiry")
    if (permit.inquirer, permit.provider) != (inquiry.inquirer, inquiry.provider):
        raise PermitRefused("permit_mismatch", "the permit names other parties")
    if not permit.issued_at <= now < permit.expires_at:
        raise PermitRefused("permit_expired", "the permit is not valid now")
    day = now.astimezone(_JST).date()
    for item in data_items:
        local_list.check(procedure, item, str(inquiry.inquirer), str(inquiry.provider), day)
