"""Whatever bytes reach the hub, triage returns one journal entry; it never raises, and
nothing it journals or puts on a header quotes what the sender wrote (issue 10)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from contracts.canonical import canonical_bytes
from contracts.signing import Signer
from contracts.wire import WireLimits
from hub.entries import JournalEntry
from tests.fuzz.hostile import leaf_paths, with_value_at
from tests.unit.test_triage import IMS, NOW, TRIAGE, envelope, wire

MY_NUMBER = "123456789018"  # passes the check digit (domain.md 3.4)
REASON_CODES = {
    "contract_invalid",
    "too_large",
    "unknown_key",
    "revoked_key",
    "bad_signature",
    "key_not_valid",
    "key_not_bound",
    "wrong_tenant",
    "stale_message",
    "internal_error",
}
# Columns that hold the received bytes themselves (evidence), not text about them.
_BODY = {"canonical", "signature", "headers"}


def signed(document: dict[str, Any], key: Any = IMS) -> bytes:
    """`document` signed as it stands, whatever the contract says of it."""
    document = {k: v for k, v in document.items() if k != "signature"}
    document["signature"] = Signer(key.entry.key_id, key.signing).sign_bytes(
        canonical_bytes(document)
    )
    return canonical_bytes(document)


def good_document() -> dict[str, Any]:
    return envelope().to_document()


def assert_safe(entry: JournalEntry, *, absent: str = MY_NUMBER) -> None:
    """Every text column and header is short, printable and free of `absent`."""
    texts = [
        (name, value)
        for name, value in ((f.name, getattr(entry, f.name)) for f in dataclasses.fields(entry))
        if isinstance(value, str) and name not in _BODY
    ]
    texts += [(f"header {k}", v) for k, v in entry.headers.items()]
    for name, value in texts:
        assert value.isprintable(), name
        assert len(value) <= 600, name
        value.encode("utf-8")  # no lone surrogates: PostgreSQL and AMQP take it
        assert absent not in value, name


def deep(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


def nul_member() -> bytes:
    document = good_document()
    document["\u0000"] = 1
    return signed(document)


def nul_kind() -> bytes:
    document = good_document()
    document["payload"]["kind"] = "\u0000"
    return signed(document)


POISON: dict[str, Any] = {
    "NUL in key_id": lambda: b'{"key_id":"\\u0000"}',
    "integer of 5,000 digits": lambda: b'{"a":' + b"7" * 5000 + b"}",
    "integer past 2^53": lambda: b'{"a":9007199254740993}',
    "arrays 50,000 deep": lambda: deep(50_000),
    "objects 50,000 deep": lambda: b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "invalid UTF-8": lambda: b'{"key_id":"\xff\xfe"}',
    "UTF-8 of a surrogate": lambda: b'{"key_id":"\xed\xa0\x80"}',
    "escaped lone surrogate": lambda: b'{"key_id":"\\ud800"}',
    "UTF-16": lambda: '{"key_id":"x"}'.encode("utf-16"),
    "byte-order mark": lambda: b'\xef\xbb\xbf{"key_id":"x"}',
    "empty body": lambda: b"",
    "JSON null": lambda: b"null",
    "a bare string": lambda: b'"hello"',
    "unterminated": lambda: b'{"key_id":"abc',
    "unbalanced brackets": lambda: b"[[[[}",
    # Once quadratic in the nesting scan (every quote began a scan to the end): 100 s.
    "escaped quotes never closed, 128 KB": lambda: b'"' + b'\\"' * 65_536,
    "4 MB of unclosed brackets": lambda: b"[" * 4_000_000,
    "NaN": lambda: b'{"a":NaN}',
    "a float": lambda: b'{"a":1.5}',
    "NUL in a member name, signed": nul_member,
    "NUL in payload.kind, signed": nul_kind,
    "control characters everywhere": lambda: signed(
        good_document() | {"kind": "\u0001\u001f\u007f\u2028"}
    ),
}


@pytest.mark.parametrize("make", POISON.values(), ids=POISON.keys())
def test_poison_becomes_a_refusal_with_a_reason_code(make: Any) -> None:
    entry = TRIAGE(make(), NOW)
    assert entry.decision == "reject"
    assert entry.reason_code in REASON_CODES
    assert entry.headers["x-sesshu-reason-code"] == entry.reason_code
    assert_safe(entry, absent="\u0000")


def test_a_body_over_the_limit_is_refused_before_it_is_parsed() -> None:
    small = dataclasses.replace(TRIAGE, limits=WireLimits(max_bytes=1000))
    body = deep(10_000_000)  # would take seconds to scan, and is never scanned
    entry = small(body, NOW)
    assert entry.reason_code == "too_large"
    assert entry.reason == "envelope: 20000000 bytes, over the limit of 1000"
    # The journal keeps what fits, and the hash of everything, as the evidence.
    assert entry.canonical == body[:1000]
    assert entry.headers["x-sesshu-received-bytes"] == "20000000"


def test_the_limit_admits_an_envelope_exactly_at_it() -> None:
    body = wire()
    exact = dataclasses.replace(TRIAGE, limits=WireLimits(max_bytes=len(body)))
    assert exact(body, NOW).decision == "deliver"
    assert exact(body + b" ", NOW).reason_code == "too_large"


def test_nesting_within_the_limit_is_judged_by_the_contract_alone() -> None:
    entry = TRIAGE(deep(30), NOW)
    assert entry.reason_code == "contract_invalid"
    assert entry.reason == "envelope must be a JSON object"
    too_deep = TRIAGE(b'{"a":' + deep(40) + b"}", NOW)
    assert too_deep.reason == "envelope: arrays and objects nested deeper than 32 levels"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    document = good_document()
    document["sender"]["instance"] = "[" * 100
    entry = TRIAGE(signed(document), NOW)
    assert entry.reason_code == "contract_invalid"
    assert entry.reason is not None
    assert "sender.instance" in entry.reason


def test_integers_at_the_contract_limit_parse() -> None:
    entry = TRIAGE(b'{"a":9007199254740991,"b":-9007199254740991}', NOW)
    assert entry.reason_code == "unknown_key"  # got past parsing
    assert TRIAGE(b'{"a":-9007199254740992}', NOW).reason == (
        "envelope: an integer outside the range of +-(2^53 - 1)"
    )


# -- reasons and columns never quote what the sender wrote --------------------------------


def test_an_unknown_key_id_is_not_quoted() -> None:
    entry = TRIAGE(wire().replace(b'"ims-1"', f'"x{MY_NUMBER}"'.encode()), NOW)
    assert entry.reason_code == "unknown_key"
    assert entry.reason == "key_id: names no key in the key ring"
    assert entry.key_id is None
    assert_safe(entry)


def test_an_unknown_member_name_is_not_quoted() -> None:
    document = good_document()
    document[f"m{MY_NUMBER}"] = 1
    entry = TRIAGE(signed(document), NOW)
    assert entry.reason_code == "contract_invalid"
    assert entry.reason == "(unknown member): Extra inputs are not permitted"
    assert_safe(entry)


def test_a_bad_payload_kind_is_not_quoted() -> None:
    document = good_document()
    document["payload"]["kind"] = MY_NUMBER
    entry = TRIAGE(signed(document), NOW)
    assert entry.reason_code == "contract_invalid"
    assert entry.reason is not None
    assert entry.reason.startswith("payload: kind is not one of the payload kinds")
    assert_safe(entry)


def test_a_bad_uuid_is_not_quoted() -> None:
    document = good_document()
    document["correlation_id"] = f"x{MY_NUMBER}"
    entry = TRIAGE(signed(document), NOW)
    assert entry.reason == (
        "correlation_id: UUID must be 36 lower-case hexadecimal characters with hyphens"
    )
    assert_safe(entry)


def _every_field() -> list[tuple[str | int, ...]]:
    return leaf_paths(good_document() | {"signature": "x"})


def _off_the_list() -> dict[str, Any]:
    # Signed by a known sender and refused by routing whatever else it holds: every
    # variant below is a refusal, so none of them can pass unchecked.
    return good_document() | {"procedure": "B1-93-2"}


@pytest.mark.parametrize("sign", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("path", _every_field(), ids=lambda p: ".".join(map(str, p)))
def test_a_my_number_in_any_field_of_a_refused_message_is_never_repeated(
    path: tuple[str | int, ...], sign: bool
) -> None:
    document = with_value_at(_off_the_list(), path, MY_NUMBER)
    if path == ("signature",):
        body = canonical_bytes(document | {"signature": MY_NUMBER})
    elif sign:
        body = signed(document)
    else:
        body = canonical_bytes(document | {"signature": "A" * 86})
    entry = TRIAGE(body, NOW)
    assert entry.decision == "reject"
    assert_safe(entry)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("sender", "instance"), MY_NUMBER),
        (("sender", "operator"), MY_NUMBER),
        (("data_items", 0), f"x{MY_NUMBER}"),
        (("id",), f"01a233aa-a674-74bc-9e2d-{MY_NUMBER}"),
        (("correlation_id",), f"01a233aa-a674-74bc-9e2d-{MY_NUMBER}"),
    ],
)
def test_a_my_number_where_the_contract_allows_its_digits_is_kept_out_of_columns(
    path: tuple[str | int, ...], value: str
) -> None:
    # Valid there, and signed: still, a refusal's columns keep no run of digits that
    # passes the My Number check (the bytes keep everything, as evidence).
    entry = TRIAGE(signed(with_value_at(_off_the_list(), path, value)), NOW)
    assert entry.reason_code == "not_on_list"
    assert_safe(entry)
    assert MY_NUMBER.encode() in entry.canonical


# -- the contract as written ---------------------------------------------------------------


def test_an_envelope_without_sender_operator_is_refused() -> None:
    document = good_document()
    del document["sender"]["operator"]
    entry = TRIAGE(signed(document), NOW)
    assert entry.reason_code == "contract_invalid"
    assert entry.reason == "sender: operator is required (null when no person sent it)"


def test_a_routing_key_other_than_the_kind_is_refused() -> None:
    # The broker's topic permissions are on the routing key: one that lies about the kind
    # would carry a kind past them (issue 13).
    assert TRIAGE(wire(), NOW, "resident_status_flag").decision == "deliver"
    entry = TRIAGE(wire(), NOW, "dose_record")
    assert entry.reason_code == "contract_invalid"
    assert entry.reason == "routing key: must be the envelope's kind (contracts/README.md, AMQP)"
    assert entry.message_id is not None  # verified: kept


@pytest.mark.parametrize(
    ("member", "value", "rule"),
    [
        ("ephemeral_public_key", "A" * 42 + "B", "non-zero trailing bits"),
        ("ciphertext", "A" * 185, "not unpadded base64url"),
        ("ciphertext", "A" * 22 + "B", "non-zero trailing bits"),
    ],
)
def test_a_sealed_payload_is_checked_as_binary(member: str, value: str, rule: str) -> None:
    document = good_document()
    document["payload"] = {
        "kind": "sealed",
        "recipient_key_id": "vrs-1",
        "ephemeral_public_key": "A" * 43,
        "nonce": "A" * 16,
        "ciphertext": "A" * 24,
    }
    assert TRIAGE(signed(document), NOW).decision == "deliver"
    document["payload"][member] = value
    entry = TRIAGE(signed(document), NOW)
    assert entry.reason_code == "contract_invalid"
    assert entry.reason is not None
    assert f"payload.sealed.{member}" in entry.reason
    assert rule in entry.reason


def test_only_the_hub_sends_what_the_hub_says() -> None:
    # A system that signs an "approval" itself forges a 所属長's decision.
    document = good_document()
    document["kind"] = "approval_attestation"
    document["payload"] = {
        "kind": "approval_attestation",
        "held_message_id": document["id"],
        "approver": "boss",
        "decided_at": document["sent_at"],
        "content_sha256": "0" * 64,
        "comment": None,
    }
    entry = TRIAGE(signed(document), NOW)
    assert entry.reason_code == "sender_not_listed"
    assert entry.reason == "sender.system: only the hub sends this kind"


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("traceparent", "00-" + "0" * 32 + "-" + "ab" * 8 + "-01"),
        ("traceparent", "00-" + "ab" * 16 + "-" + "0" * 16 + "-01"),
        ("traceparent", "00-" + "AB" * 16 + "-" + "ab" * 8 + "-01"),
        ("procedure", "S19-016"),
        ("procedure", "B2-115-02"),
    ],
)
def test_one_spelling_for_trace_context_and_procedures(member: str, value: str) -> None:
    document = good_document() | {member: value}
    entry = TRIAGE(signed(document), NOW)
    assert entry.reason_code == "contract_invalid"
    assert entry.reason is not None
    assert entry.reason.startswith(f"{member}:")
