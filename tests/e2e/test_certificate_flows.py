"""F17-F19 end to end, with R06-R08, R10 and R50: a certificate from the kiosk (card chip
and PIN), the app and the counter, issued by VRS as a SMART Health Card that verifies;
refused for a city not enrolled in kiosk issuance, a forged card or a typed My Number; and
afterwards no table, file or log line of the adapters holds the application or the
certificate."""

from __future__ import annotations

import base64
import uuid
from datetime import date

import httpx2
import pytest

from adapters.kiosk.simulator import CardAuthority, CardLocked, MyNumberCard, WrongPin
from adapters.vrs.shc import from_qr_text, verify
from contracts.examples import example_payload
from hub.settings import AdaptersSettings
from stack.keys import card_authority, shc_issuer
from tests.e2e.stack import Stack, kiosk_url, rows_csv
from tests.harness import CHIKUSEI, YUKI, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

MY_NUMBER = "987654321093"
NAME = "関本 一郎"
ADDRESS = "茨城県筑西市明野台九丁目9番99号"
BIRTH = date(1963, 2, 11)
RESIDENT = {
    "person": "5002",
    "basic_code": "5002",
    "resident_code": "51928374650",
    "my_number": MY_NUMBER,
    "name": NAME,
    "birth_date": BIRTH.isoformat(),
    "sex": 1,
    "address": ADDRESS,
    "ticket_number": "0000500025",
    "ticket_issued_on": "2025-04-01",
}
SITE = example_payload("dose_record").model_dump(mode="json")


def dose(number: int) -> dict[str, object]:
    return {k: v for k, v in SITE.items() if k not in ("kind", "ticket_ocr")} | {
        "ticket_number": "0000500025",
        "dose_number": number,
    }


async def test_certificates_from_kiosk_app_and_counter_and_nothing_kept(stack: Stack) -> None:
    stack.drop(CHIKUSEI, "health_mgmt", "residents", "residents.csv", rows_csv([RESIDENT]))
    await wait_for(lambda: _target(stack), 60, "the VRS target")
    stack.drop(CHIKUSEI, "vrs", "doses", "site.csv", rows_csv([dose(1), dose(2)]))
    await wait_for(lambda: _doses(stack, 2), 60, "two doses")

    authority = CardAuthority(key=card_authority(stack.key_dir))
    card = authority.issue(
        my_number=MY_NUMBER, name=NAME, birth_date=BIRTH, sex=1, address=ADDRESS, pin="4821"
    )
    issuer = shc_issuer(AdaptersSettings().shc_issuer_url, None, stack.key_dir)
    certificates = []
    async with httpx2.AsyncClient(timeout=60) as client:
        # F19: a wrong PIN is refused by the card itself (R06); the right one reads the chip.
        with pytest.raises(WrongPin):
            card.apply("0000", application_id=uuid.uuid4())
        kiosk = card.apply("4821", application_id=uuid.uuid4())
        answer = await client.post(
            f"{kiosk_url(stack, CHIKUSEI)}/applications", json=kiosk.model_dump(mode="json")
        )
        assert answer.status_code == 201, answer.text
        certificates.append(answer.json())
        # R10: the same card at a city not enrolled in kiosk issuance.
        elsewhere = await client.post(
            f"{kiosk_url(stack, YUKI)}/applications",
            json=card.apply("4821", application_id=uuid.uuid4()).model_dump(mode="json"),
        )
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "not_enrolled")
        # R07: a chip signature that does not verify.
        forged = card.apply("4821", application_id=uuid.uuid4()).model_dump(mode="json")
        forged["name"] = "偽名 太郎"
        refused = await client.post(f"{kiosk_url(stack, CHIKUSEI)}/applications", json=forged)
        assert (refused.status_code, refused.json()["code"]) == (403, "card_signature")
        # R08: a typed My Number is not accepted at a kiosk; the error never echoes it.
        typed = kiosk.model_dump(mode="json") | {
            "my_number_source": "typed",
            "application_id": str(uuid.uuid4()),
        }
        invalid = await client.post(f"{kiosk_url(stack, CHIKUSEI)}/applications", json=typed)
        assert invalid.status_code == 422
        assert MY_NUMBER not in invalid.text
        assert NAME not in invalid.text
        # F18: the app, with the same two factors.
        app = card.apply("4821", application_id=uuid.uuid4(), channel="app")
        answer = await client.post(
            f"{kiosk_url(stack, CHIKUSEI)}/applications", json=app.model_dump(mode="json")
        )
        assert answer.status_code == 201, answer.text
        certificates.append(answer.json())
        # F17: at the counter the number may be typed; identity is checked in person.
        counter = typed | {
            "channel": "counter",
            "card_signature": None,
            "pin_verified": False,
            "application_id": str(uuid.uuid4()),
        }
        answer = await client.post(f"{kiosk_url(stack, CHIKUSEI)}/applications", json=counter)
        assert answer.status_code == 201, answer.text
        certificates.append(answer.json())

    for certificate in certificates:
        card_data = verify(certificate["jws"], [issuer])
        assert len(card_data.immunizations) == 2
        assert from_qr_text(certificate["qr"]) == certificate["jws"]
        assert base64.b64decode(certificate["qr_png_base64"]).startswith(b"\x89PNG")
    _locks_after_three_wrong_pins(card)
    await _nothing_kept(stack, certificates)


def _locks_after_three_wrong_pins(card: MyNumberCard) -> None:
    """The PIN locks after three wrong tries in a row (F18, F19)."""
    with pytest.raises(WrongPin):
        card.apply("1111", application_id=uuid.uuid4())
    with pytest.raises(WrongPin):
        card.apply("2222", application_id=uuid.uuid4())
    with pytest.raises(CardLocked):
        card.apply("3333", application_id=uuid.uuid4())
    with pytest.raises(CardLocked):
        card.apply("4821", application_id=uuid.uuid4())


async def _nothing_kept(stack: Stack, certificates: list[dict[str, str]]) -> None:
    """R50: nothing of an application or a certificate is kept by the adapters."""
    secrets = [c["jws"].split(".")[2] for c in certificates]
    secrets += [c["certificate_id"] for c in certificates]
    for owner in (CHIKUSEI, YUKI, "nws"):
        for value in secrets:
            assert not await _anywhere(stack, owner, value), (owner, value)
    effects = await stack.fetch(
        CHIKUSEI, "SELECT effect FROM adapter_effects WHERE consumer = 'adapter.kiosk.082279'"
    )
    assert {r["effect"] for r in effects} == {"certificate:handed_over"}
    for path in stack.root.rglob("*"):
        if path.is_file() and not path.name.endswith(".pem"):
            text = path.read_bytes()
            for value in secrets:
                assert value.encode() not in text, path
    logs = stack.logs()
    for value in (*secrets, MY_NUMBER, NAME, ADDRESS):
        assert value not in logs


async def _target(stack: Stack) -> bool:
    return await stack.exists(CHIKUSEI, "SELECT 1 FROM vrs.targets WHERE basic_code = '5002'")


async def _doses(stack: Stack, count: int) -> bool:
    rows = await stack.fetch(CHIKUSEI, "SELECT count(*) AS n FROM vrs.doses")
    return bool(rows) and rows[0]["n"] == count


async def _anywhere(stack: Stack, owner: str, value: str) -> bool:
    """True if any text or JSON column of any table in the database holds `value`."""
    columns = await stack.fetch(
        owner,
        "SELECT table_schema, table_name, column_name FROM information_schema.columns"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        " AND data_type IN ('text', 'jsonb', 'character varying')",
    )
    for column in columns:
        table = f'"{column["table_schema"]}"."{column["table_name"]}"'
        sql = f'SELECT 1 FROM {table} WHERE "{column["column_name"]}"::text LIKE $1 LIMIT 1'  # noqa: S608 - names from the catalog
        if await stack.fetch(owner, sql, f"%{value}%"):
            return True
    return False
