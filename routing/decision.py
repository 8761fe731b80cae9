"""`decide(envelope, policy, context) -> Deliver | Hold | Reject`: pure, no I/O.

The checks, in order, each with its reason code:

    unroutable            no adapter queue for the recipient
    cross_municipality    R14: a message for another municipality that is not one of the
                          kinds made to cross (network traffic, VRS transfer-in/out)
    my_number_on_network  R40: a My Number on a network path (符号 only there)
    my_number_purpose     R21: a COVID-domain message holding a My Number without one of
                          the three purposes (transfer-in inquiry, transfer-out provision,
                          certificate); R22: so an export, which has none, never holds one
    not_on_list           no row of the permitted-inquiry list for the procedure and a
                          data item (or the message declares no data item)
    outside_validity      rows exist, none valid on the day the message was sent
    wrong_direction       valid rows exist, none in the message's direction
    sender_not_listed     the sender (or recipient) is not the listed inquirer or provider
    Hold: auto_response_disabled
                          a provision of a flagged (provider, procedure, data item) waits
                          for a 所属長 (R37)
    Hold: manual_import   what a person made a system send of a (sender, procedure, data
                          item) of the policy's manual imports waits for two operators'
                          checks and a 所属長's sign-off (R01)

The hub routes on envelope fields alone and never reads a payload: the two rules about
content (R21, R40) read what the sender declares of it (`Envelope.declared`), which the
recipient checks against the payload once it has opened it. A `delivery_refusal` (the
recipient's word that it refused such a delivery) goes back along a listed path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, timezone

from contracts.broker import KINDS_SENT
from contracts.codes import SystemId
from contracts.envelope import Envelope
from routing.policy import ANY, Policy, Row

__all__ = [
    "CROSS_MUNICIPALITY_KINDS",
    "DIRECTION_OF",
    "HOLD_CODES",
    "NETWORK_KINDS",
    "ROUTING_CODES",
    "Context",
    "Decision",
    "Deliver",
    "Hold",
    "Reject",
    "decide",
]

_JST = timezone(timedelta(hours=9))
# Kinds that travel over the information-provision network.
NETWORK_KINDS = frozenset(
    {
        "inquiry_request",
        "provision_permit",
        "provision_response",
        "permitted_list_update",
        "self_information_request",
        "resident_notice",
    }
)
# Kinds made to go from one municipality to another.
CROSS_MUNICIPALITY_KINDS = NETWORK_KINDS | {"transfer_in_inquiry", "transfer_out_provision"}
# A recipient's refusal goes back to the sender, across municipalities where what it
# refuses could have crossed: between two cities' VRS (F14, F15) and over the network.
REFUSAL_KIND = "delivery_refusal"
_CROSSING_PAIRS = frozenset(
    {
        (SystemId.VRS, SystemId.VRS),
        (SystemId.INTERMEDIATE, SystemId.NWS),
        (SystemId.NWS, SystemId.INTERMEDIATE),
    }
)
# The COVID-19 domain, where a My Number may serve three purposes only (R21).
COVID_PROCEDURES = frozenset({"S19-16"})
COVID_KINDS = frozenset(
    {
        "target_registration",
        "dose_record",
        "vaccination_export",
        "transfer_in_inquiry",
        "transfer_out_provision",
        "resident_status_flag",
        "certificate_application",
        "certificate_issued",
    }
)
MY_NUMBER_PURPOSES = frozenset({"transfer_in_inquiry", "transfer_out_provision", "certificate"})
DIRECTION_OF = {
    "inquiry_request": "inquiry",
    "transfer_in_inquiry": "inquiry",
    "self_information_request": "inquiry",
    "provision_response": "provision",
    "transfer_out_provision": "provision",
}
# The hub's own messages follow from decisions already made (an approval, a rejection).
HUB_KINDS = KINDS_SENT[SystemId.HUB]
# Every code decide() can return: a journal row with another one was refused before
# routing (by verification) and says nothing about the policy.
ROUTING_CODES = frozenset(
    {
        "unroutable",
        "cross_municipality",
        "my_number_on_network",
        "my_number_purpose",
        "not_on_list",
        "outside_validity",
        "wrong_direction",
        "sender_not_listed",
        "auto_response_disabled",
        "manual_import",
    }
)
HOLD_CODES = frozenset({"auto_response_disabled", "manual_import"})
"""The codes of a hold: a decision to wait for people, not a refusal."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """Send the envelope to `<system>.<municipality>` on the delivery exchange."""

    routing_key: str


@dataclass(frozen=True, slots=True)
class Hold:
    """Keep the envelope until an approver releases it."""

    code: str
    reason: str
    department: str
    """The department whose 所属長 decides."""


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the envelope; `code` is the stable reason code journaled and dead-lettered."""

    code: str
    reason: str


Decision = Deliver | Hold | Reject


@dataclass(frozen=True, slots=True)
class Context:
    """What the decision may know of the world: the delivery keys that have a queue."""

    destinations: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Party:
    system: SystemId
    org: str

    def listed_as(self, system: SystemId, org: str) -> bool:
        return self.system == system and org in (ANY, self.org)


def decide(envelope: Envelope, policy: Policy, context: Context) -> Decision:
    """The decision for one verified envelope under `policy`."""
    key = envelope.recipient.routing_key
    if key not in context.destinations:
        return Reject("unroutable", "recipient: no adapter queue for its system and municipality")
    if envelope.kind in HUB_KINDS:
        # What the hub says of its own decisions: from anybody else, a forgery of them.
        if envelope.sender.system is SystemId.HUB:
            return Deliver(key)
        return Reject("sender_not_listed", "sender.system: only the hub sends this kind")
    refusal = _content_refusal(envelope)
    if refusal is not None:
        return refusal
    return _by_list(envelope, policy, key)


def _content_refusal(envelope: Envelope) -> Reject | None:
    crosses = envelope.recipient.municipality != envelope.municipality
    if crosses and not _may_cross(envelope):
        return Reject(
            "cross_municipality",
            "recipient.municipality: this kind may not leave the sender's municipality (R14)",
        )
    if not envelope.declared.my_number:
        return None
    systems = {envelope.sender.system, envelope.recipient.system}
    if envelope.kind in NETWORK_KINDS or SystemId.NWS in systems:
        return Reject(
            "my_number_on_network", "payload: a My Number may not travel the network (R40)"
        )
    covid = envelope.procedure in COVID_PROCEDURES or envelope.kind in COVID_KINDS
    if covid and envelope.declared.purpose not in MY_NUMBER_PURPOSES:
        return Reject(
            "my_number_purpose",
            "payload: holds a My Number without one of the three purposes (R21)",
        )
    return None


def _may_cross(envelope: Envelope) -> bool:
    if envelope.kind == REFUSAL_KIND:
        return (envelope.sender.system, envelope.recipient.system) in _CROSSING_PAIRS
    return envelope.kind in CROSS_MUNICIPALITY_KINDS


def _by_list(envelope: Envelope, policy: Policy, key: str) -> Decision:
    if not envelope.data_items:
        return Reject("not_on_list", "data_items: the message declares none")
    if envelope.kind == REFUSAL_KIND:
        return _refusal_by_list(envelope, policy, key)
    direction = DIRECTION_OF.get(envelope.kind, "transfer")
    sender = _Party(envelope.sender.system, str(envelope.municipality))
    recipient = _Party(envelope.recipient.system, str(envelope.recipient.municipality))
    inquirer, provider = (recipient, sender) if direction == "provision" else (sender, recipient)
    day = envelope.sent_at.astimezone(_JST).date()
    held: str | None = None
    for index, item in enumerate(envelope.data_items):
        found = _listed(
            policy.rows_for(envelope.procedure, item), direction, inquirer, provider, day
        )
        if isinstance(found, Reject):
            # The field, not its value: the journal row holds the procedure and the items.
            return Reject(found.code, f"data_items.{index}: {found.reason}")
        if direction == "provision" and held is None:
            held = next(
                (
                    f.department
                    for f in policy.flags
                    if f.covers(sender.system, sender.org, envelope.procedure, item)
                ),
                None,
            )
    if held is not None:
        return Hold(
            "auto_response_disabled", "provision of a flagged item waits for approval (R37)", held
        )
    checked = _manual_import(envelope, policy, sender)
    if checked is not None:
        return Hold(
            "manual_import",
            "a manual import waits for two operators' checks and a 所属長's sign-off (R01)",
            checked,
        )
    return Deliver(key)


def _manual_import(envelope: Envelope, policy: Policy, sender: _Party) -> str | None:
    """The department that checks this message, if a person made its sender send it and
    one of its data items is a manual import (R01)."""
    if envelope.sender.operator is None:
        return None
    return next(
        (
            m.department
            for item in envelope.data_items
            for m in policy.manual_imports
            if m.covers(sender.system, sender.org, envelope.procedure, item)
        ),
        None,
    )


def _refusal_by_list(envelope: Envelope, policy: Policy, key: str) -> Decision:
    """A refusal answers a message of the same procedure and data items that came the
    other way: for each item, some valid row, in any direction, must list the two parties
    as its inquirer and provider, either way round."""
    sender = _Party(envelope.sender.system, str(envelope.municipality))
    recipient = _Party(envelope.recipient.system, str(envelope.recipient.municipality))
    day = envelope.sent_at.astimezone(_JST).date()
    for index, item in enumerate(envelope.data_items):
        rows = [r for r in policy.rows_for(envelope.procedure, item) if r.valid_on(day)]
        if not any(_pair(r, recipient, sender) or _pair(r, sender, recipient) for r in rows):
            return Reject(
                "sender_not_listed",
                f"data_items.{index}: no valid row of the list joins the sender and recipient",
            )
    return Deliver(key)


def _pair(row: Row, inquirer: _Party, provider: _Party) -> bool:
    return inquirer.listed_as(row.inquirer_system, row.inquirer_org) and provider.listed_as(
        row.provider_system, row.provider_org
    )


def _listed(
    rows: list[Row], direction: str, inquirer: _Party, provider: _Party, day: date
) -> Row | Reject:
    if not rows:
        return Reject("not_on_list", "not on the permitted-inquiry list for the procedure")
    valid = [r for r in rows if r.valid_on(day)]
    if not valid:
        return Reject("outside_validity", "no row of the list is valid on the day sent")
    directed = [r for r in valid if r.direction == direction]
    if not directed:
        return Reject("wrong_direction", f"the list has no {direction} row")
    for row in directed:
        if _pair(row, inquirer, provider):
            return row
    return Reject(
        "sender_not_listed",
        f"sender, recipient: not a listed inquirer and provider for this {direction}",
    )
