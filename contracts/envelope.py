"""The envelope: the signed unit every system hands to the hub (design.md, Contracts)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from uuid_utils.compat import uuid7

from contracts.canonical import UtcDateTime, WireUUID, canonical_bytes
from contracts.codes import DataItemCode, LocalGovCode, ProcedureCode, SystemId
from contracts.payloads import (
    REVIEWED_KINDS,
    SEALED_KINDS,
    AnyPayload,
    MessageKind,
    MyNumberPurpose,
    Payload,
    SealedPayload,
    carries_my_number,
)

__all__ = [
    "SCHEMA_VERSION",
    "Declaration",
    "Envelope",
    "KeyId",
    "Party",
    "Recipient",
    "new_message_id",
    "stable_message_id",
]

SCHEMA_VERSION = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

KeyId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
Instance = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
# A staff account id (hub.staff): one per person (R16), never a name.
StaffId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]


def _w3c_ids(value: str) -> str:
    # W3C Trace Context: an all-zero trace id or parent id is invalid.
    if value[3:35] == "0" * 32 or value[36:52] == "0" * 16:
        raise ValueError("traceparent trace-id and parent-id must not be all zeros")
    return value


Traceparent = Annotated[
    str,
    StringConstraints(pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"),
    AfterValidator(_w3c_ids),
]
Signature = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{86}$")]


def new_message_id() -> UUID:
    """A fresh UUIDv7: time-ordered, so journal indexes stay append-mostly."""
    return uuid7()


def stable_message_id(seed: bytes, at: datetime) -> UUID:
    """A UUIDv7 that is the same every time for the same seed and time: for a message an
    edge may have to send again after a crash (a row of an imported file), so the hub's
    dedupe by id makes the second send a no-op. The 74 random bits come from SHA-256 of
    the seed; the timestamp is `at` in milliseconds."""
    # Exact integer milliseconds (floor), not float seconds times 1000: another language
    # must be able to compute the same id (contracts/README.md, "Stable message ids").
    millis = ((at - _EPOCH) // timedelta(milliseconds=1)) & ((1 << 48) - 1)
    bits = int.from_bytes(hashlib.sha256(seed).digest()[:10], "big")
    rand_a, rand_b = (bits >> 62) & 0xFFF, bits & ((1 << 62) - 1)
    return UUID(int=(millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _operator_required(schema: dict[str, Any]) -> None:
    schema["required"] = [*schema.get("required", []), "operator"]


class Party(_Frozen):
    """The sending system and which running instance of it sent the message."""

    model_config = ConfigDict(json_schema_extra=_operator_required)

    system: SystemId
    instance: Instance
    operator: StaffId | None = None
    """The staff account that made the sending system send this, when a person did (the
    approver of a held reply may not be the person who prepared it: four eyes)."""

    @model_validator(mode="before")
    @classmethod
    def _operator_on_the_wire(cls, data: Any, info: ValidationInfo) -> Any:
        # Every envelope member is on the wire, null where there is none; the default is
        # for Python callers only (a system that no person drove).
        if info.mode == "json" and isinstance(data, dict) and "operator" not in data:
            raise ValueError("operator is required (null when no person sent it)")
        return data


class Recipient(_Frozen):
    """The system and municipality a message is for; the hub routes on these two."""

    system: SystemId
    municipality: LocalGovCode

    @property
    def routing_key(self) -> str:
        """`<system>.<municipality>`, the key on the `sesshu.deliver` exchange."""
        return f"{self.system.value}.{self.municipality}"


class Declaration(_Frozen):
    """What the sender declares of the payload's content, for the rules that read content
    (R21, R22, R40) where the hub cannot: whether a My Number is inside and the payload's
    purpose. The hub routes on it; the recipient, once it has opened the payload, refuses
    it when the content says otherwise."""

    my_number: bool
    purpose: MyNumberPurpose | None

    @classmethod
    def of(cls, payload: Payload) -> Declaration:
        """The declaration a plaintext payload makes true."""
        return cls(my_number=carries_my_number(payload), purpose=getattr(payload, "purpose", None))


def _every_member_required(schema: dict[str, Any]) -> None:
    schema["required"] = sorted(schema["properties"])
    # The model lets Python build an unsigned envelope; on the wire the signature is there.
    signature = schema["properties"]["signature"]
    schema["properties"]["signature"] = next(
        s for s in signature["anyOf"] if s.get("type") == "string"
    ) | {"description": "Ed25519 over the signing input, unpadded base64url"}
    schema["properties"]["data_items"]["uniqueItems"] = True
    # A kind that identifies a person travels sealed, every other kind in plaintext.
    schema["if"] = {"properties": {"kind": {"enum": sorted(SEALED_KINDS)}}}
    schema["then"] = {"properties": {"payload": {"properties": {"kind": {"const": "sealed"}}}}}
    schema["else"] = {
        "properties": {"payload": {"properties": {"kind": {"not": {"const": "sealed"}}}}}
    }


class Envelope(_Frozen):
    """A message between two systems, signed by its sender (contracts/README.md)."""

    # On the wire every member is present, the signature too (null where the table allows).
    model_config = ConfigDict(json_schema_extra=_every_member_required)

    id: WireUUID
    kind: MessageKind
    schema_version: int = Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)
    municipality: LocalGovCode
    sender: Party
    recipient: Recipient
    procedure: ProcedureCode
    data_items: tuple[DataItemCode, ...] = Field(max_length=32)
    correlation_id: WireUUID
    causation_id: WireUUID | None
    sent_at: UtcDateTime
    traceparent: Traceparent | None
    payload: AnyPayload
    declared: Declaration
    review: SealedPayload | None
    """A provision's review copy (`payloads.ReviewCopy`), sealed to the desk of the
    provider's municipality, for the 所属長 who may have to release it (R37)."""
    key_id: KeyId
    signature: Signature | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.id.version != 7:
            raise ValueError("id must be a UUIDv7")
        sealed = isinstance(self.payload, SealedPayload)
        if sealed != (self.kind in SEALED_KINDS):
            raise ValueError(
                "payload: this kind identifies a person and travels sealed (R43)"
                if not sealed
                else "payload: this kind travels in plaintext"
            )
        if not sealed and self.payload.kind != self.kind:
            raise ValueError("payload.kind must equal kind")
        if not sealed and self.declared != Declaration.of(self.payload):
            raise ValueError("declared: does not match the payload")
        if self.review is not None and self.kind not in REVIEWED_KINDS:
            raise ValueError("review: only a provision carries a review copy")
        if SystemId.DESK in (self.sender.system, self.recipient.system):
            raise ValueError("sender.system, recipient.system: the desk is no party to a message")
        if len(set(self.data_items)) != len(self.data_items):
            raise ValueError("data_items must not repeat")
        return self

    @classmethod
    def new(
        cls,
        *,
        payload: Payload,
        municipality: str,
        sender: Party,
        recipient: Recipient,
        procedure: str,
        key_id: str,
        data_items: tuple[str, ...] = (),
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
        traceparent: str | None = None,
        kind: str | None = None,
        sent_at: datetime | None = None,
        message_id: UUID | None = None,
        declared: Declaration | None = None,
        review: SealedPayload | None = None,
    ) -> Envelope:
        """An unsigned envelope with a fresh id, stamped now unless `sent_at` is given.

        `kind` defaults to the payload's; it must be given for a sealed payload, together
        with the `message_id` the payload was sealed under and the `declared` content
        (`Declaration.of` the plaintext). A plaintext payload declares itself.
        """
        if declared is None:
            if isinstance(payload, SealedPayload):
                raise ValueError("declared: a sealed payload's declaration must be given")
            declared = Declaration.of(payload)
        message_id = message_id or new_message_id()
        fields: dict[str, Any] = {
            "id": message_id,
            "kind": kind or payload.kind,
            "schema_version": SCHEMA_VERSION,
            "municipality": municipality,
            "sender": sender,
            "recipient": recipient,
            "procedure": procedure,
            "data_items": data_items,
            "correlation_id": correlation_id or message_id,
            "causation_id": causation_id,
            "sent_at": sent_at or datetime.now(UTC),
            "traceparent": traceparent,
            "payload": payload,
            "declared": declared,
            "review": review,
            "key_id": key_id,
        }
        return cls.model_validate(fields)

    def to_document(self) -> dict[str, Any]:
        """The envelope as a JSON value, in the wire forms (signature included if set)."""
        return self.model_dump(mode="json", exclude_none=False)

    def signing_bytes(self) -> bytes:
        """Canonical bytes of the envelope without its signature: what the signature covers."""
        return canonical_bytes(self.model_dump(mode="json", exclude={"signature"}))

    def to_bytes(self) -> bytes:
        """The envelope on the wire: canonical JSON, signature included."""
        return canonical_bytes(self.to_document())
