"""Certificates of vaccination (F17-F19): the card of an application is checked again
here (F18; the center applied R10 before it sent the application), then the resident's
doses are issued as a SMART Health Card. `bridge.Vrs` opens the sealed application and
seals the certificate back to the center.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.kit.acts import tokyo_today
from adapters.kit.card_check import check_application
from adapters.kit.shc import CardError, Issuer, IssuingBody, health_card
from adapters.ports import VrsBook
from contracts.payloads import CertificateApplication, CertificateIssued, CovidDose

__all__ = ["issue"]


async def issue(
    application: CertificateApplication,
    *,
    book: VrsBook,
    issuer: Issuer,
    issuing_body: IssuingBody,
    card_authority: Ed25519PublicKey,
    city: str,
    certificate_id: str,
) -> CertificateIssued:
    """The certificate for an application to `city`'s VRS: CardRejected if its card does
    not check out, CardError if there is no record to certify or a dose's product cannot
    be coded."""
    check_application(
        application,
        card_authority=card_authority,
        municipality=city,
        enrolled=[city],  # the center applied R10; VRS checks the card (F18)
    )
    jws = await _card_for(application, book, issuer, issuing_body)
    return CertificateIssued(
        application_id=application.application_id,
        certificate_id=certificate_id,
        issued_on=tokyo_today(),  # 発行年月日, Japan's day
        jws=jws,
    )


async def _card_for(
    application: CertificateApplication, book: VrsBook, issuer: Issuer, body: IssuingBody
) -> str:
    target = await book.target(my_number=application.my_number.reveal())
    if target is None or target["status"] == "deceased":
        raise CardError("no record to certify", "no_record")
    # The card says what VRS's register says: an application naming someone else under
    # this number (a typed number at the counter, a mistaken one) gets no card.
    born = target["birth_date"]
    if not _same(str(application.name), str(target["name"])) or (
        born is not None and date.fromisoformat(str(born)) != application.birth_date
    ):
        raise CardError("the applicant is not the register's person", "identity_mismatch")
    ticket = target["ticket_number"]
    doses = [CovidDose.model_validate(d) for d in await book.doses(ticket)]
    # For use abroad, the name the passport gives (旅券関係情報), as a border officer reads it.
    passport = application.passport if application.use == "overseas" else None
    return health_card(
        issuer,
        name=passport.romanized_name if passport else str(target["name"]),
        birth_date=application.birth_date,
        doses=doses,
        issued_at=datetime.now(UTC),
        issuing_body=body,
        given_elsewhere=await book.given_elsewhere(ticket),
    )


def _same(given: str, registered: str) -> bool:
    """Two renderings of one name (full- or half-width, spaced or not) as the same."""

    def folded(name: str) -> str:
        return "".join(unicodedata.normalize("NFKC", name).split())

    return folded(given) == folded(registered)
