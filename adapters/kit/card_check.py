"""What the certificate center checks of an application before it goes on to VRS (F17-F19):
a municipality enrolled in issuance through the center (R10, on every channel); for the
app and the kiosk, two factors (R06), the card chip's signature over its four items and
the My Number (R07), a My Number read from the chip and never typed (R08). Pure
functions; each refusal has a stable code and never quotes the card's data."""

from __future__ import annotations

from collections.abc import Collection

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contracts._b64 import b64decode
from contracts.canonical import canonical_bytes
from contracts.codes import MyNumber, PersonName, PostalAddress
from contracts.payloads import CertificateApplication

__all__ = ["CardRejected", "check_application", "signed_items"]


class CardRejected(ValueError):
    """An application the center refuses; `code` says which rule."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code


def signed_items(
    my_number: MyNumber,
    name: PersonName,
    birth_date: str,
    sex: int,
    address: PostalAddress,
) -> bytes:
    """The bytes the card chip signs: its four items (基本4情報) and the My Number, as
    canonical JSON."""
    return canonical_bytes(
        {
            "address": str(address),
            "birth_date": birth_date,
            "my_number": my_number.reveal(),
            "name": str(name),
            "sex": sex,
        }
    )


def check_application(
    application: CertificateApplication,
    *,
    card_authority: Ed25519PublicKey,
    municipality: str,
    enrolled: Collection[str],
) -> None:
    """Raise CardRejected unless the center may pass the application on."""
    if municipality not in enrolled:  # every channel that reaches the center
        raise CardRejected(
            "not_enrolled", "the municipality does not issue through the certificate center (R10)"
        )
    if application.channel == "counter":
        return  # identity is checked in person at the counter (F17), its record required
    if application.my_number_source != "card_chip":
        raise CardRejected("typed_my_number", "the My Number must be read from the card (R08)")
    signature = application.card_signature
    if signature is None or not application.pin_verified:
        raise CardRejected("second_factor", "card chip and PIN are both required (R06)")
    if signature.algorithm != "Ed25519":
        raise CardRejected("card_signature", f"{signature.algorithm} is not the card's algorithm")
    data = signed_items(
        application.my_number,
        application.name,
        application.birth_date.isoformat(),
        application.sex,
        application.address,
    )
    try:
        card_authority.verify(b64decode(signature.value), data)
    except (InvalidSignature, ValueError):
        raise CardRejected("card_signature", "the card's signature does not verify (R07)") from None
