"""The review copy of a held provision, as its 所属長 reads it (R37).

The provider seals a copy of every provision to its own municipality's desk review key
(`Envelope.review`); the desk alone holds those private keys (`ReviewKeys`, from
`SESSHU_DESK__REVIEW_KEY_DIR`, never read by a hub worker). `readable` opens a held
message's copy and lays it out as a person reads it: who asks, about whom (masked), and
each item that would be provided, with Japanese labels. `content_sha256` is the digest the
approval attests and the inquirer checks the provision it opens against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.codes import SystemId
from contracts.envelope import Envelope
from contracts.keys import KeyEntry, KeyRingError, load_sealing_key
from contracts.payloads import CovidDose, DoseHistoryItem, ReviewCopy, TransferOutProvision
from contracts.sealing import SealError, content_digest, open_review

__all__ = [
    "PROCEDURE_NAMES",
    "ReviewKeys",
    "ReviewView",
    "Unreadable",
    "masked_reference",
    "readable",
    "review_keys",
]

PROCEDURE_NAMES = {
    "B2-115-2": "番号法 別表第二 115の2（新型インフルエンザ等対策特別措置法による予防接種の実施）",
    "B2-16-2": "番号法 別表第二 16の2（予防接種法による予防接種の実施）",
    "B2-16-3": "番号法 別表第二 16の3",
    "S19-16": "番号法 第19条第16号（新型コロナウイルス感染症の予防接種の記録の提供）",
    "S19-8": "番号法 第19条第8号（情報提供ネットワークシステムによる提供）",
    "B1-10": "番号法 別表第一 10（予防接種法による予防接種の実施）",
}
_STATUS = {
    "provided": "提供あり",
    "no_data": "該当なし",
    "withheld": "提供しない",
    "no_record": "記録なし",
}
_DONE = {"done": "接種済", "not_done": "未接種"}
SYSTEM_NAMES = {
    "intermediate": "中間サーバー",
    "vrs": "ワクチン接種記録システム（VRS）",
    "health_mgmt": "健康管理システム",
    "nws": "情報提供ネットワークシステム",
    "kiosk": "証明書交付センター",
}

ReviewKeys = Callable[[str, str], X25519PrivateKey]
"""The desk's private review key of (key id, municipality): KeyError unless it holds that
key and the key is that municipality's (a copy sealed to another city's desk key is not a
copy for this city's 所属長)."""


class Unreadable(Exception):
    """A held message whose review copy is missing or does not open: nobody can check
    what it would provide, so it may be rejected but not approved."""


def review_keys(folder: Path | None) -> ReviewKeys:
    """The desk's review keys in `folder`: `<key_id>.sealing.pem` beside its ring entry
    `<key_id>.json` (as `sesshu keys generate` writes them), read when first asked for;
    none at all when no folder is set."""
    cache: dict[str, tuple[X25519PrivateKey, str]] = {}

    def lookup(key_id: str, municipality: str) -> X25519PrivateKey:
        if key_id not in cache:
            cache[key_id] = _review_key(folder, key_id)
        private, owner = cache[key_id]
        if owner != municipality:
            raise KeyError(key_id)
        return private

    return lookup


def _review_key(folder: Path | None, key_id: str) -> tuple[X25519PrivateKey, str]:
    if folder is None or "/" in key_id:
        raise KeyError(key_id)
    try:
        entry = KeyEntry.model_validate_json((folder / f"{key_id}.json").read_bytes())
        private = load_sealing_key(folder / f"{key_id}.sealing.pem")
    except (OSError, KeyRingError, ValueError):
        raise KeyError(key_id) from None
    if entry.system is not SystemId.DESK or entry.municipality is None:
        raise KeyError(key_id)
    return private, str(entry.municipality)


@dataclass(frozen=True, slots=True)
class ReviewView:
    """What a 所属長 reads of a held provision: its parts laid out, My Number masked."""

    asks: list[tuple[str, str]]
    """(label, value) of who asks and under which procedure."""
    subject: list[tuple[str, str]]
    """(label, value) of whom it is about, masked."""
    items: list[list[tuple[str, str]]]
    """Each item that would be provided, as (label, value) pairs."""
    outcome: str
    """The provision's status, in Japanese."""
    document: dict[str, Any]
    """The review copy as JSON, My Numbers masked."""
    my_numbers: dict[str, str]
    """Full My Numbers by path, for an audited reveal only."""
    content_sha256: str
    """The digest of the provision: what an approval attests."""


def readable(envelope: Envelope, keys: ReviewKeys) -> tuple[ReviewCopy, ReviewView]:
    """The held provision's review copy, opened and laid out; Unreadable if it has none
    or it does not open (or holds another provision than the kind of the envelope)."""
    if envelope.review is None:
        raise Unreadable("the reply carries no review copy")
    try:
        private = keys(envelope.review.recipient_key_id, str(envelope.municipality))
        review = open_review(envelope.review, private_key=private, envelope_id=envelope.id)
    except KeyError:
        raise Unreadable(
            "the review copy is not sealed to a desk key of the sender's municipality"
        ) from None
    except SealError:
        raise Unreadable("the review copy does not open") from None
    if review.provision.kind != envelope.kind:
        raise Unreadable("the review copy holds another kind of provision")
    return review, _view(envelope, review)


def _view(envelope: Envelope, review: ReviewCopy) -> ReviewView:
    provision = review.provision
    asks = [
        ("照会元 · Inquirer", f"{review.inquirer} {SYSTEM_NAMES[review.inquirer_system.value]}"),
        ("事務 · Procedure", PROCEDURE_NAMES.get(envelope.procedure, envelope.procedure)),
        ("特定個人情報 · Data items", "、".join(envelope.data_items)),
    ]
    subject = [
        ("宛名番号 · Reference", masked_reference(review.subject.reference)),
        ("氏名 · Name", _masked_name(review.subject.name)),
        (
            "生年月日 · Birth date",
            "—" if review.subject.birth_date is None else f"{review.subject.birth_date:%Y}年",
        ),
    ]
    numbers: dict[str, str] = {}
    if isinstance(provision, TransferOutProvision):
        numbers["$.provision.my_number"] = provision.my_number.reveal()
        subject.append(("個人番号 · My Number", provision.my_number.masked()))
        items = [_covid_dose(dose) for dose in provision.doses]
    else:
        items = [_history_item(item) for item in provision.history]
    document = review.model_dump(mode="json")
    if isinstance(provision, TransferOutProvision):
        document["provision"]["my_number"] = provision.my_number.masked()
    document["subject"] = _subject_masks(review)
    return ReviewView(
        asks=asks,
        subject=subject,
        items=items,
        outcome=_STATUS.get(provision.status, provision.status),
        document=document,
        my_numbers=numbers,
        content_sha256=content_digest(provision),
    )


def _history_item(item: DoseHistoryItem) -> list[tuple[str, str]]:
    return [
        ("ワクチンの種類 · Vaccine", item.vaccine_type),
        ("接種回数 · Dose", f"第{item.dose_number}回"),
        ("接種日 · Date", item.administered_on.isoformat()),
        ("ロット番号 · Lot", item.lot_number or "—"),
        ("メーカー · Maker", item.manufacturer or "—"),
    ]


def _covid_dose(dose: CovidDose) -> list[tuple[str, str]]:
    return [
        ("ワクチンの種類 · Vaccine", dose.vaccine_type),
        ("接種回数 · Dose", f"第{dose.dose_number}回（{_DONE[dose.status]}）"),
        ("接種日 · Date", dose.vaccinated_on.isoformat()),
        ("製品名 · Product", dose.product_name or "—"),
        ("ロット番号 · Lot", dose.lot_number),
        ("メーカー · Maker", dose.manufacturer),
    ]


def masked_reference(reference: str | None) -> str:
    """A person's number with all but its last two digits masked."""
    if reference is None:
        return "—"
    return "*" * max(len(reference) - 2, 0) + reference[-2:]


def _masked_name(name: str | None) -> str:
    # The family name (the part before the first space) shows; the given name does not.
    if name is None:
        return "—"
    family, _, given = name.partition(" ")
    return family + (" " + "〇" * len(given) if given else "")


def _subject_masks(review: ReviewCopy) -> dict[str, str | None]:
    subject = review.subject
    return {
        "reference": None if subject.reference is None else masked_reference(subject.reference),
        "name": None if subject.name is None else _masked_name(subject.name),
        "birth_date": None if subject.birth_date is None else f"{subject.birth_date:%Y}",
    }
