"""Property tests of triage, in memory: whatever hypothesis makes of bytes, JSON and valid
envelopes, triage answers with one entry, refuses what it must with the family's code, and
quotes nothing (issue 10). The same families run against a live hub in test_live_fuzz.py."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.broker import destinations
from contracts.codes import SystemId
from contracts.keys import KeyRing, generate_key
from contracts.signing import Freshness, Signer
from contracts.wire import WireLimits
from hub.pipeline import Triage
from routing.decision import Context
from tests.fuzz.hostile import FAMILIES, MAX_BYTES, Keys, Template
from tests.unit.test_hostile_triage import assert_safe
from tests.unit.test_triage import IMS, NOW, POLICY, START, VRS, envelope

REVOKED = generate_key(SystemId.HEALTH_MGMT, "082279", key_id="ims-revoked", valid_from=START)
YUKI_IMS = generate_key(SystemId.HEALTH_MGMT, "082074", key_id="ims-yuki", valid_from=START)
UNKNOWN = generate_key(SystemId.HEALTH_MGMT, "082279", key_id="ims-unknown", valid_from=START)
TRIAGE = Triage(
    ring=KeyRing(
        [IMS.entry, VRS.entry, YUKI_IMS.entry, REVOKED.entry.model_copy(update={"revoked": True})]
    ),
    freshness=Freshness(),
    policy=POLICY,
    context=Context(destinations=destinations(["082279", "082074"])),
    limits=WireLimits(max_bytes=MAX_BYTES),
)


def _signer(key: Any) -> Signer:
    return Signer(key.entry.key_id, key.signing)


KEYS = Keys(
    revoked=_signer(REVOKED),
    unknown=_signer(UNKNOWN),
    foreign_system=_signer(VRS),
    other_city=_signer(YUKI_IMS),
)
TEMPLATE = Template(
    {k: v for k, v in envelope(sent_at=NOW).to_document().items() if k != "signature"},
    _signer(IMS),
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


@SETTINGS
@given(st.binary(max_size=2048))
def test_any_bytes_are_refused_and_nothing_is_quoted(body: bytes) -> None:
    entry = TRIAGE(body, NOW)
    assert entry.decision == "reject"
    assert_safe(entry, absent="\x00")


@SETTINGS
@given(json_values, st.booleans())
def test_any_json_document_gets_one_answer(value: object, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    entry = TRIAGE(body, NOW)
    assert entry.decision == "reject"
    assert_safe(entry, absent="\x00")


@SETTINGS
@given(st.sampled_from(sorted(FAMILIES)), st.randoms(use_true_random=False))
def test_every_family_is_refused_with_its_code(name: str, rng: random.Random) -> None:
    family, codes = FAMILIES[name]
    body, routing_key = family(TEMPLATE, KEYS, rng, NOW)
    entry = TRIAGE(body, NOW, routing_key)
    assert entry.reason_code in codes, (name, entry.reason)
    assert entry.headers["x-sesshu-reason-code"] == entry.reason_code
    assert_safe(entry, absent="\x00")


def test_the_template_itself_is_delivered() -> None:
    body = TEMPLATE.sign(TEMPLATE.copy())
    assert TRIAGE(body, NOW, "resident_status_flag").decision == "deliver"
    assert TRIAGE(body, NOW + timedelta(hours=1)).reason_code == "stale_message"
