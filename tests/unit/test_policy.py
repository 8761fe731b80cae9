"""The routing policy: loading checks, and decide() over every list row and every reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contracts.broker import destinations
from contracts.codes import SystemId
from contracts.envelope import Declaration, Envelope, Party, Recipient
from contracts.examples import example_payload
from contracts.keys import generate_key
from contracts.payloads import TargetRegistration
from hub.settings import Settings
from routing.decision import Context, Deliver, Hold, Reject, decide
from routing.policy import (
    FLAG_COLUMNS,
    MANUAL_IMPORT_COLUMNS,
    ROW_COLUMNS,
    PolicyError,
    Row,
    load_policy,
    parse_policy,
)
from tests.sealed import sealed_envelope

SAMPLE = Settings().routing.directory()
POLICY = load_policy(SAMPLE)
CONTEXT = Context(destinations=destinations(["082279", "082074"]))
SENT = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
SEALED_TO = generate_key(SystemId.VRS, "082279", key_id="vrs-policy-t")
HEADER = ",".join(ROW_COLUMNS) + "\n"
FLAG_HEADER = ",".join(FLAG_COLUMNS) + "\n"
GOOD = "S19-16,19-16,,covid.dose,transfer,vrs,*,health_mgmt,*,2021-02-17,,1825\n"


def envelope(kind: str, sender: SystemId, to: SystemId, **changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "municipality": "082279",
        "sender": Party(system=sender, instance="t-1"),
        "recipient": Recipient(system=to, municipality="082279"),
        "procedure": "S19-16",
        "data_items": ("covid.resident_status",),
        "key_id": "k-1",
        "sent_at": SENT,
    }
    fields |= changes
    return sealed_envelope(
        fields.pop("payload", None) or example_payload(kind), SEALED_TO, **fields
    )


# --- loading ---------------------------------------------------------------------------


def test_the_sample_policy_loads_and_its_version_is_its_content() -> None:
    assert len(POLICY.rows) >= 20
    assert POLICY.flags
    text = (SAMPLE / "permitted.csv").read_text()
    flags = (SAMPLE / "auto_response_disabled.csv").read_text()
    imports = (SAMPLE / "manual_imports.csv").read_text()
    assert parse_policy(text, flags, imports).version == POLICY.version
    assert parse_policy(text + "\n# a comment\n", flags, imports).version != POLICY.version
    # A policy without manual imports keeps the version it had before the third file.
    assert parse_policy(text, flags).version != POLICY.version
    assert parse_policy(text, flags).manual_imports == ()


def test_r01_a_bad_manual_import_row_is_reported_with_its_line() -> None:
    header = ",".join(MANUAL_IMPORT_COLUMNS) + "\n"
    flags = FLAG_HEADER
    with pytest.raises(PolicyError) as caught:
        parse_policy(HEADER + GOOD, flags, header + "clinic,*,B1-10,vaccination.record,x1\n")
    assert caught.value.problems == ["manual_imports.csv:2: sender_system: unknown system 'clinic'"]
    with pytest.raises(PolicyError) as caught:
        parse_policy(HEADER + GOOD, flags, "sender,procedure\n")
    assert caught.value.problems[0].startswith("manual_imports.csv:1: header must be")


def test_r01_what_a_person_made_a_system_send_of_a_manual_import_is_held() -> None:
    person = Party(system=SystemId.HEALTH_MGMT, instance="import-cli", operator="hoken.sato")
    by_hand = sealed_envelope(
        example_payload("vaccination_record"),
        SEALED_TO,
        municipality="082279",
        sender=person,
        recipient=Recipient(system=SystemId.INTERMEDIATE, municipality="082279"),
        procedure="B1-10",
        data_items=("vaccination.record",),
        key_id="k-1",
        sent_at=SENT,
    )
    decision = decide(by_hand, POLICY, CONTEXT)
    assert isinstance(decision, Hold)
    assert (decision.code, decision.department) == ("manual_import", "health-promotion")
    assert "R01" in decision.reason
    # The same sent by the system alone (no person drove it) is no manual import.
    by_system = by_hand.model_copy(
        update={"sender": Party(system=SystemId.HEALTH_MGMT, instance="import-cli")}
    )
    assert isinstance(decide(by_system, POLICY, CONTEXT), Deliver)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("B2-115の2,,,x.y,inquiry,nws,*,vrs,*,2021-01-01,,1\n", "permitted.csv:2: procedure"),
        ("S19-16,,,Bad.Item,transfer,vrs,*,vrs,*,2021-01-01,,1\n", "permitted.csv:2: data_item"),
        ("S19-16,,,x.y,sideways,vrs,*,vrs,*,2021-01-01,,1\n", "permitted.csv:2: direction"),
        (
            "S19-16,,,x.y,transfer,printer,*,vrs,*,2021-01-01,,1\n",
            "permitted.csv:2: inquirer_system",
        ),
        ("S19-16,,,x.y,transfer,vrs,082278,vrs,*,2021-01-01,,1\n", "permitted.csv:2: inquirer_org"),
        ("S19-16,,,x.y,transfer,vrs,*,vrs,*,2021-13-01,,1\n", "permitted.csv:2: effective_from"),
        (
            "S19-16,,,x.y,transfer,vrs,*,vrs,*,2021-02-01,2021-01-01,1\n",
            "permitted.csv:2: effective_to",
        ),
        ("S19-16,,,x.y,transfer,vrs,*,vrs,*,2021-02-01,,0\n", "permitted.csv:2: retention_days"),
        ("S19-16,,,x.y,transfer,vrs,*,vrs\n", "permitted.csv:2: expected 12 fields"),
        (GOOD + GOOD, "permitted.csv:3: repeats line 2"),
        (GOOD + GOOD.replace(",1825", ",30"), "permitted.csv:3: contradicts line 2"),
    ],
)
def test_every_bad_row_is_reported_with_its_line(rows: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(HEADER + rows, FLAG_HEADER)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("printer,*,B2-115-2,vaccination.history,health\n", "provider_system"),
        ("intermediate,*,B2-115-2,vaccination.history,Health Dept\n", "department"),
        ("intermediate,*,B2-115-2,vaccination.history\n", "expected 5 fields"),
    ],
)
def test_every_bad_flag_is_reported_with_its_line(flags: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(HEADER + GOOD, FLAG_HEADER + flags)
    assert any(
        p.startswith(f"auto_response_disabled.csv:2: {expected}") for p in caught.value.problems
    ), caught.value.problems


def test_all_bad_rows_are_reported_at_once_and_comments_keep_line_numbers() -> None:
    text = HEADER + "# note\n" + GOOD.replace("vrs,*,health", "vrs,*,ghost") + GOOD + "x\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, FLAG_HEADER + "intermediate,*,B2-1,Bad\n")
    lines = sorted(p.split(":")[0] + ":" + p.split(":")[1] for p in caught.value.problems)
    assert lines == [
        "auto_response_disabled.csv:2",
        "permitted.csv:3",
        "permitted.csv:5",
    ]


def test_a_wrong_header_or_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="header must be"):
        parse_policy("procedure,data_item\n", FLAG_HEADER)
    with pytest.raises(PolicyError, match="missing"):
        load_policy(tmp_path)


def test_overlap_only_matters_within_the_validity_windows() -> None:
    later = GOOD.replace("2021-02-17,,1825", "2025-01-01,,30")
    earlier = GOOD.replace("2021-02-17,,1825", "2021-02-17,2024-12-31,1825")
    assert len(parse_policy(HEADER + earlier + later, FLAG_HEADER).rows) == 2


# --- every row of the sample list ------------------------------------------------------

KIND_FOR = {
    ("inquiry", "S19-16"): "transfer_in_inquiry",
    ("provision", "S19-16"): "transfer_out_provision",
    ("inquiry", "other"): "inquiry_request",
    ("provision", "other"): "provision_response",
}


def envelope_for_row(row: Row) -> Envelope:
    """The message the row permits, from a Chikusei system to a Yuki one where it may."""
    procedure = "S19-16" if row.procedure == "S19-16" else "other"
    kind = KIND_FOR.get((row.direction, procedure), "resident_status_flag")
    sender, recipient = (
        (row.provider_system, row.inquirer_system)
        if row.direction == "provision"
        else (row.inquirer_system, row.provider_system)
    )
    target = "082074" if kind != "resident_status_flag" else "082279"
    return envelope(
        kind,
        sender,
        recipient,
        recipient=Recipient(system=recipient, municipality=target),
        procedure=row.procedure,
        data_items=(row.data_item,),
    )


@pytest.mark.parametrize("row", POLICY.rows, ids=lambda r: f"line{r.line}")
def test_every_row_of_the_sample_list_permits_its_message(row: Row) -> None:
    decision = decide(envelope_for_row(row), POLICY, CONTEXT)
    flagged = row.direction == "provision" and any(
        f.covers(row.provider_system, "082279", row.procedure, row.data_item) for f in POLICY.flags
    )
    if flagged:
        assert decision == Hold("auto_response_disabled", decision.reason, "health-promotion")  # type: ignore[union-attr]
    else:
        assert isinstance(decision, Deliver)
        assert decision.routing_key == envelope_for_row(row).recipient.routing_key


# --- every reason ----------------------------------------------------------------------

H, IS, NWS, VRS, KIOSK = (
    SystemId.HEALTH_MGMT,
    SystemId.INTERMEDIATE,
    SystemId.NWS,
    SystemId.VRS,
    SystemId.KIOSK,
)
TARGETS_WITHOUT_PURPOSE = TargetRegistration.model_validate(
    example_payload("target_registration").model_dump() | {"purpose": None}
)
REASONS: dict[str, Envelope] = {
    "unroutable": envelope(
        "resident_status_flag", H, VRS, recipient=Recipient(system=VRS, municipality="131016")
    ),
    "cross_municipality": envelope(
        "resident_status_flag", H, VRS, recipient=Recipient(system=VRS, municipality="082074")
    ),
    "my_number_on_network": envelope(
        "transfer_in_inquiry",
        VRS,
        NWS,
        procedure="B2-115-2",
        data_items=("vaccination.history",),
    ),
    "my_number_purpose": envelope(
        "target_registration", H, VRS, payload=TARGETS_WITHOUT_PURPOSE, data_items=("covid.target",)
    ),
    "not_on_list": envelope("resident_status_flag", H, VRS, data_items=("covid.unknown",)),
    "outside_validity": envelope(
        "resident_status_flag", H, VRS, sent_at=datetime(2020, 5, 1, tzinfo=UTC)
    ),
    "wrong_direction": envelope(
        "transfer_in_inquiry",
        VRS,
        VRS,
        recipient=Recipient(system=VRS, municipality="082074"),
        data_items=("covid.resident_status",),
    ),
    "sender_not_listed": envelope("resident_status_flag", KIOSK, VRS),
}


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_reason_has_its_case(code: str) -> None:
    decision = decide(REASONS[code], POLICY, CONTEXT)
    assert isinstance(decision, Reject), decision
    assert decision.code == code
    for value in ("123456789018", "下館"):
        assert value not in decision.reason


def test_a_message_without_data_items_is_not_on_the_list() -> None:
    decision = decide(envelope("resident_status_flag", H, VRS, data_items=()), POLICY, CONTEXT)
    assert decision == Reject("not_on_list", "data_items: the message declares none")


def test_every_data_item_must_be_permitted() -> None:
    items = ("covid.resident_status", "covid.dose")
    decision = decide(envelope("resident_status_flag", H, VRS, data_items=items), POLICY, CONTEXT)
    assert isinstance(decision, Reject)
    assert decision.code == "sender_not_listed"
    assert decision.reason.startswith("data_items.1: ")  # the second item, named by position


def test_the_hubs_own_messages_follow_its_decisions() -> None:
    notice = envelope("rejection_notice", SystemId.HUB, H, data_items=())
    assert decide(notice, POLICY, CONTEXT) == Deliver("health_mgmt.082279")


# --- what the hub reads instead of content, and a recipient's refusal --------------------


def test_the_content_rules_read_the_declaration_of_a_sealed_payload() -> None:
    # The hub cannot open the payload: R21 and R40 follow what its sender declares.
    sealed = envelope("target_registration", H, VRS, data_items=("covid.target",))
    assert isinstance(decide(sealed, POLICY, CONTEXT), Deliver)
    unstated = envelope(
        "target_registration",
        H,
        VRS,
        data_items=("covid.target",),
        declared=Declaration(my_number=True, purpose=None),
    )
    refused = decide(unstated, POLICY, CONTEXT)
    assert isinstance(refused, Reject)
    assert refused.code == "my_number_purpose"


def _refusal(sender: SystemId, to: SystemId, **changes: Any) -> Envelope:
    return envelope("delivery_refusal", sender, to, **changes)


def test_a_recipients_refusal_goes_back_along_a_listed_path() -> None:
    # VRS refuses what health management sent it under covid.resident_status.
    assert isinstance(decide(_refusal(VRS, H), POLICY, CONTEXT), Deliver)
    # ... and between two cities' VRS (F14, F15), it may cross, as what it refuses did.
    back = _refusal(
        VRS,
        VRS,
        data_items=("covid.vaccination_record",),
        recipient=Recipient(system=VRS, municipality="082074"),
    )
    assert isinstance(decide(back, POLICY, CONTEXT), Deliver)


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        # No row joins the kiosk and health management.
        (
            lambda: _refusal(SystemId.KIOSK, H, data_items=("covid.certificate",)),
            "sender_not_listed",
        ),
        (lambda: _refusal(VRS, H, data_items=("covid.unknown",)), "sender_not_listed"),
        # Health management of one city never sent anything to another's VRS.
        (
            lambda: _refusal(VRS, H, recipient=Recipient(system=H, municipality="082074")),
            "cross_municipality",
        ),
    ],
)
def test_a_refusal_off_every_listed_path_is_refused(refusal: Any, code: str) -> None:
    decision = decide(refusal(), POLICY, CONTEXT)
    assert isinstance(decision, Reject)
    assert decision.code == code
