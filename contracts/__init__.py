"""Message contracts: domain codes, the envelope, payloads, canonical bytes, signing, sealing.

This package imports only pydantic, cryptography and uuid-utils; every other package of
Sesshu Hub may import it.
"""

from contracts.canonical import CanonicalError, canonical_bytes
from contracts.codes import (
    BasicCode,
    CodeError,
    DataItemCode,
    LocalGovCode,
    LotNumber,
    MyNumber,
    ProcedureCode,
    SystemId,
    TicketNumber,
    fiscal_year,
)
from contracts.envelope import Envelope, Party, Recipient, new_message_id
from contracts.keys import KeyEntry, KeyRing, KeyRingError, generate_key
from contracts.payloads import PAYLOAD_BY_KIND, AnyPayload, MessageKind, Payload, SealedPayload
from contracts.sealing import SealError, open_sealed, seal
from contracts.signing import (
    Freshness,
    MalformedEnvelope,
    Signer,
    VerificationError,
    parse_and_verify,
    verify,
)

__all__ = [
    "PAYLOAD_BY_KIND",
    "AnyPayload",
    "BasicCode",
    "CanonicalError",
    "CodeError",
    "DataItemCode",
    "Envelope",
    "Freshness",
    "KeyEntry",
    "KeyRing",
    "KeyRingError",
    "LocalGovCode",
    "LotNumber",
    "MalformedEnvelope",
    "MessageKind",
    "MyNumber",
    "Party",
    "Payload",
    "ProcedureCode",
    "Recipient",
    "SealError",
    "SealedPayload",
    "Signer",
    "SystemId",
    "TicketNumber",
    "VerificationError",
    "canonical_bytes",
    "fiscal_year",
    "generate_key",
    "new_message_id",
    "open_sealed",
    "parse_and_verify",
    "seal",
    "verify",
]
