"""The re-drive rules as plain functions (hub/redrive.py): what may be re-driven, the
triage again as of arrival, the kind its sender's system sends, the outcome of journaling,
and the digest of a selection."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from hub.redrive import (
    REDRIVABLE,
    RedriveState,
    after_record,
    retriage,
    selection_digest,
    sent_by_its_system,
)
from routing.decision import ROUTING_CODES
from tests.unit.test_triage import NOW, TRIAGE, wire


def test_only_what_the_hubs_side_can_fix_is_redrivable() -> None:
    assert {"unknown_key", "key_not_valid", "internal_error", "not_on_list"} <= REDRIVABLE
    assert "auto_response_disabled" not in REDRIVABLE  # a hold, not a refusal
    assert "manual_import" not in REDRIVABLE  # a hold for its checks (R01)
    for code in ("bad_signature", "contract_invalid", "too_large", "stale_message"):
        assert code not in REDRIVABLE
    for code in ("id_conflict", "revoked_key", "key_not_bound", "wrong_tenant"):
        assert code not in REDRIVABLE
    assert ROUTING_CODES - {"auto_response_disabled", "manual_import"} <= REDRIVABLE


def test_freshness_is_judged_as_of_when_the_hub_first_received_the_bytes() -> None:
    body = wire()
    day_later = NOW + timedelta(days=1)
    assert TRIAGE(body, day_later).reason_code == "stale_message"
    again = retriage(body, TRIAGE, NOW + timedelta(seconds=2))
    assert again.decision == "deliver"
    assert again.dedupe_key.startswith("id:")  # journaled under its id, deduped as ever


def test_a_kind_its_senders_system_does_not_publish_is_refused() -> None:
    accepted = TRIAGE(wire(), NOW)
    assert sent_by_its_system(accepted) is accepted
    claimed = replace(accepted, kind="provision_permit")  # only the network sends permits
    refused = sent_by_its_system(claimed)
    assert (refused.decision, refused.reason_code) == ("reject", "contract_invalid")
    assert refused.dedupe_key == f"sha256:{refused.dedupe_key[7:]}"  # keyed by the bytes
    unknown = replace(accepted, sender_system=None)
    assert sent_by_its_system(unknown).decision == "reject"


@pytest.mark.parametrize(
    ("decision", "new", "existing", "state", "seq"),
    [
        ("deliver", 7, None, RedriveState.DELIVERED, 7),
        ("hold", 7, None, RedriveState.HELD, 7),
        ("deliver", None, (3, "same"), RedriveState.DUPLICATE, 3),
        ("deliver", None, (3, "other"), RedriveState.REFUSED, None),
        ("deliver", None, (3, None), RedriveState.REFUSED, None),
    ],
)
def test_the_outcome_of_journaling_a_redriven_entry(
    decision: str,
    new: int | None,
    existing: tuple[int, str | None] | None,
    state: RedriveState,
    seq: int | None,
) -> None:
    body = wire()
    entry = replace(TRIAGE(body, NOW), decision=decision)
    kept = None
    if existing is not None:
        journaled = {"same": body, "other": wire(), None: None}[existing[1]]
        kept = (existing[0], journaled)
    outcome = after_record(entry, new, kept)
    assert (outcome.state, outcome.result_seq) == (state, seq)
    if state is RedriveState.REFUSED:
        assert outcome.reason_code == "id_conflict"


def test_the_selection_digest_names_the_rows_whatever_their_order() -> None:
    assert selection_digest([3, 1, 2]) == selection_digest([1, 2, 3])
    assert selection_digest([1, 2]) != selection_digest([1, 2, 3])
    assert len(selection_digest([])) == 64
