"""A simulated My Number Card and the authority that issues it, for the kiosk's tests and
the demo (never imported by the bridge).

The card holds its four items and the My Number, signed by the card authority's test key
(Ed25519, standing in for the card's real PKI), and a 4-digit PIN that locks the card after
three wrong tries in a row (R06-R08); the right PIN resets the count.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.kit.card_check import signed_items
from contracts._b64 import b64encode
from contracts.codes import MyNumber, PersonName, PostalAddress
from contracts.envelope import new_message_id
from contracts.payloads import CardSignature, CertificateApplication, IdentityCheck, PassportInfo

__all__ = ["CardAuthority", "CardLocked", "MyNumberCard", "WrongPin", "at_the_kiosk", "random_pin"]

PIN_TRIES = 3


class WrongPin(ValueError):
    """The PIN was wrong; `left` tries remain."""

    def __init__(self, left: int) -> None:
        super().__init__(f"wrong PIN: {left} tries left")
        self.left = left


class CardLocked(ValueError):
    """Three wrong PINs in a row: the card answers nothing until it is reset at the office."""


@dataclass
class CardAuthority:
    """Issues test cards; the center verifies with its public key."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    serial: str = "5E55C0DE"

    def card_for(self, resident: Mapping[str, Any], pin: str) -> MyNumberCard:
        """The card of a resident as the simulators describe one (a row of F1)."""
        return self.issue(
            my_number=resident["my_number"],
            name=resident["name"],
            birth_date=date.fromisoformat(str(resident["birth_date"])),
            sex=int(resident["sex"]),
            address=resident["address"],
            pin=pin,
        )

    def issue(
        self,
        *,
        my_number: str,
        name: str,
        birth_date: date,
        sex: int,
        address: str,
        pin: str,
    ) -> MyNumberCard:
        """A card for one person with its chip signature and PIN."""
        if len(pin) != 4 or not pin.isdigit():
            raise ValueError("pin: 4 digits")
        number, person, place = MyNumber(my_number), PersonName(name), PostalAddress(address)
        data = signed_items(number, person, birth_date.isoformat(), sex, place)
        return MyNumberCard(
            my_number=number,
            name=person,
            birth_date=birth_date,
            sex=sex,
            address=place,
            signature=CardSignature(
                algorithm="Ed25519",
                certificate_serial=self.serial,
                value=b64encode(self.key.sign(data)),
            ),
            _pin=pin,
        )


@dataclass
class MyNumberCard:
    """The card: readable only with its PIN, locked after three wrong ones."""

    my_number: MyNumber
    name: PersonName
    birth_date: date = field(repr=False)
    sex: int = field(repr=False)
    address: PostalAddress = field(repr=False)
    signature: CardSignature = field(repr=False)
    _pin: str = field(default="", repr=False)
    _failures: int = field(default=0, repr=False)

    @property
    def locked(self) -> bool:
        """True after three wrong PINs in a row."""
        return self._failures >= PIN_TRIES

    def apply(
        self,
        pin: str,
        *,
        application_id: UUID,
        channel: str = "kiosk",
        use: str = "domestic",
        passport: PassportInfo | None = None,
        identity_check: IdentityCheck | None = None,
    ) -> CertificateApplication:
        """Read the chip with the PIN into a certificate application (both factors); at
        the counter, with the record of the clerk's ID check."""
        if self.locked:
            raise CardLocked("the card is locked after three wrong PINs")
        if not hmac.compare_digest(pin.encode(), self._pin.encode()):
            self._failures += 1
            if self.locked:
                raise CardLocked("the card is locked after three wrong PINs")
            raise WrongPin(PIN_TRIES - self._failures)
        self._failures = 0
        return CertificateApplication.model_validate(
            {
                "application_id": application_id,
                "channel": channel,
                "use": use,
                "my_number": self.my_number,
                "my_number_source": "card_chip",
                "name": self.name,
                "birth_date": self.birth_date,
                "sex": self.sex,
                "address": self.address,
                "card_signature": self.signature,
                "pin_verified": True,
                "passport": passport,
                "identity_check": identity_check,
            }
        )


def random_pin() -> str:
    """A PIN for a simulated card."""
    return f"{secrets.randbelow(10_000):04d}"


async def at_the_kiosk(
    center_url: str,
    card: MyNumberCard,
    pin: str,
    *,
    token: str,
    channel: str = "kiosk",
    ca_file: Path | None = None,
) -> tuple[int, dict[str, object]]:
    """A resident at a terminal of `channel`: the card read with the PIN, the application
    posted to the certificate center with the terminal's credential `token` (over HTTPS,
    verified against `ca_file`; the channel is the terminal's, so the body names none);
    (HTTP status, the center's answer)."""
    application = card.apply(pin, application_id=new_message_id(), channel=channel)
    body = application.model_dump_json(exclude={"channel"}).encode()
    request = urllib.request.Request(  # noqa: S310 - the center's own URL
        f"{center_url}/applications",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    context = None if ca_file is None else ssl.create_default_context(cafile=str(ca_file))
    return await asyncio.to_thread(_post, request, context)


def _post(
    request: urllib.request.Request, context: ssl.SSLContext | None
) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(request, timeout=60, context=context) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")
