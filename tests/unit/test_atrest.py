"""The data keys of encryption at rest (R48): sealing bound to its place, the key ring across
a rotation, blind indexes, key files, the sealed columns' types, and the commands and the
provisioning that make the keys."""

from __future__ import annotations

import json
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.store.atrest import (
    KEY_SUFFIX,
    DataKey,
    DataKeyError,
    DataKeys,
    Place,
    SealBroken,
    key_id_of,
    normalised,
    write_data_key,
)
from adapters.store.sealed import SealedTable
from hub.cli import app
from hub.settings import AdaptersSettings, Settings
from stack.data_keys import city_data_keys, make_data_key, provision_data_keys
from stack.keys import provision_keys

CITY = "082279"
HERE = Place("ims.residents", "name", "1000000001")
T0 = datetime(2026, 4, 1, tzinfo=UTC)
runner = CliRunner()


def ring(*keys: DataKey) -> DataKeys:
    return DataKeys(keys)


def key(minutes: int = 0) -> DataKey:
    return DataKey.new(CITY, T0 + timedelta(minutes=minutes))


def test_a_ciphertext_opens_where_it_was_sealed_and_names_its_key() -> None:
    keys = DataKeys.fresh(CITY)
    blob = keys.seal("筑西 花子".encode(), HERE)
    assert keys.open(blob, HERE).decode() == "筑西 花子"
    assert blob[0] == 1
    assert key_id_of(blob) == keys.current.key_id
    assert len(blob) == 1 + 8 + 12 + len("筑西 花子".encode()) + 16
    assert keys.seal(b"same", HERE) != keys.seal(b"same", HERE)  # a fresh nonce each time


@pytest.mark.parametrize(
    "elsewhere",
    [
        Place("ims.residents", "name", "1000000002"),  # another row
        Place("ims.residents", "address", "1000000001"),  # another column
        Place("vrs.targets", "name", "1000000001"),  # another table
        Place("ims.residents", "nam", "e1000000001"),  # the same bytes, split otherwise
    ],
)
def test_a_ciphertext_does_not_open_anywhere_else(elsewhere: Place) -> None:
    keys = DataKeys.fresh(CITY)
    blob = keys.seal(b"secret", HERE)
    with pytest.raises(SealBroken, match=rf"^{elsewhere.table}\.{elsewhere.column}: does not open"):
        keys.open(blob, elsewhere)


@pytest.mark.parametrize("at", [0, 1, 8, 9, 20, 21, -1])
def test_a_ciphertext_altered_anywhere_does_not_open(at: int) -> None:
    keys = DataKeys.fresh(CITY)
    blob = bytearray(keys.seal(b"secret", HERE))
    blob[at] ^= 0x01
    with pytest.raises(SealBroken, match=r"^ims\.residents\.name: "):
        keys.open(bytes(blob), HERE)


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + b"\x00" * 20])
def test_a_short_or_foreign_blob_does_not_open(blob: bytes) -> None:
    with pytest.raises(SealBroken, match="does not hold"):
        DataKeys.fresh(CITY).open(blob, HERE)


def test_the_newest_key_seals_and_every_key_opens() -> None:
    old, new = key(0), key(1)
    before = ring(old).seal(b"before", HERE)
    both = ring(new, old)  # in any order: the newest by time is current
    assert both.current == new
    assert both.key_ids == (old.key_id, new.key_id)
    assert both.open(before, HERE) == b"before"
    after = both.seal(b"after", HERE)
    assert key_id_of(after) == new.key_id
    assert ring(new).open(after, HERE) == b"after"
    with pytest.raises(SealBroken, match="does not hold"):
        ring(new).open(before, HERE)  # once the old key is gone, only what was resealed
    with pytest.raises(SealBroken):
        ring(old).open(after, HERE)


def test_a_ring_needs_a_key_of_one_municipality() -> None:
    with pytest.raises(DataKeyError, match="no data key"):
        DataKeys([])
    with pytest.raises(DataKeyError, match="more than one municipality"):
        DataKeys([key(), DataKey.new("082074")])


def test_a_blind_index_is_keyed_per_key_and_purpose_and_normalised() -> None:
    old, new = key(0), key(1)
    keys = ring(old, new)
    number, purpose = "123456789018", "vrs.targets.my_number"
    assert keys.index(number, purpose) == keys.index(number, purpose)
    assert keys.index(number, purpose) != keys.index(number, "ims.residents.my_number")
    assert keys.index(number, purpose) != ring(old).index(number, purpose)
    assert keys.indexes(number, purpose) == [
        ring(new).index(number, purpose),
        ring(old).index(number, purpose),
    ]
    for written in ("１２３４５６７８９０１８", "1234-5678-9018", " 1234 5678 9018 "):
        assert normalised(written) == number
        assert keys.index(written, purpose) == keys.index(number, purpose)
    assert keys.index("123456789019", purpose) != keys.index(number, purpose)


def test_a_key_file_is_written_private_and_read_back(tmp_path: Path) -> None:
    made = key()
    path = write_data_key(tmp_path / CITY, made)
    assert path.name == f"{made.key_id}{KEY_SUFFIX}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert DataKey.read(path) == made
    assert DataKeys.load(tmp_path / CITY, CITY).current == made
    assert made.secret.hex() not in repr(made)
    with pytest.raises(FileExistsError):
        write_data_key(tmp_path / CITY, made)


def _write(folder: Path, document: dict[str, object], name: str = "1" * 16) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}{KEY_SUFFIX}").write_text(json.dumps(document))


GOOD = {
    "key_id": "1" * 16,
    "municipality": CITY,
    "created_at": "2026-04-01T00:00:00+00:00",
    "key": "B" * 43,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key_id": "2" * 16}, "key_id must be 16 hex digits and name the file"),
        ({"key_id": "XYZ"}, "key_id must be 16 hex digits and name the file"),
        ({"municipality": ""}, "municipality missing"),
        ({"municipality": "082074"}, "municipality is not 082279"),
        ({"created_at": "yesterday"}, "created_at is not an ISO 8601 time"),
        ({"created_at": "2026-04-01T00:00:00"}, "created_at has no time zone"),
        ({"key": "B" * 42}, "key must be 32 bytes of base64url"),
        ({"key": "B" * 40 + "!!!"}, "key must be 32 bytes of base64url"),
    ],
)
def test_a_bad_key_file_is_named_with_its_field_never_its_key(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    _write(tmp_path, GOOD | change)
    with pytest.raises(DataKeyError) as bad:
        DataKeys.load(tmp_path, CITY)
    assert str(bad.value) == f"{'1' * 16}{KEY_SUFFIX}: {message}"
    assert "B" * 20 not in str(bad.value)


def test_a_key_file_that_is_no_json_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / f"{'1' * 16}{KEY_SUFFIX}").write_text("[1]")
    with pytest.raises(DataKeyError, match="not a JSON object"):
        DataKeys.load(tmp_path, CITY)
    (tmp_path / f"{'1' * 16}{KEY_SUFFIX}").write_bytes(b"\xff")
    with pytest.raises(DataKeyError, match="not a readable JSON data key file"):
        DataKeys.load(tmp_path, CITY)


def test_no_key_file_is_no_ring(tmp_path: Path) -> None:
    with pytest.raises(DataKeyError, match=r"^no data key for municipality 082279$"):
        DataKeys.load(tmp_path / "missing", CITY)
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(DataKeyError, match=r"^no data key"):
        DataKeys.load(tmp_path, CITY)


TABLE = SealedTable(
    "t.people",
    "id",
    {"name": "text", "born": "date", "sex": "int", "kana": "text"},
    indexed={"name": "name_index"},
)


def test_a_sealed_table_seals_each_column_and_reads_its_type_back() -> None:
    keys = DataKeys.fresh(CITY)
    row = {"id": "7", "name": "花子", "born": date(1950, 4, 1), "sex": 2, "kana": None, "x": 1}
    sealed = TABLE.sealed(keys, row)
    assert {k: v for k, v in sealed.items() if not isinstance(v, bytes)} == {
        "id": "7",
        "kana": None,
        "x": 1,
    }
    assert sealed["name_index"] == keys.index("花子", "t.people.name")
    assert TABLE.lookup(keys, "name", "花子") == [sealed["name_index"]]
    assert TABLE.opened(keys, sealed) == row
    # A datetime is kept as its calendar day, as asyncpg sends one to a date column.
    moment = TABLE.sealed(keys, row | {"born": datetime(1950, 4, 1, 23, 59, tzinfo=UTC)})
    assert TABLE.opened(keys, moment)["born"] == date(1950, 4, 1)
    assert TABLE.sealed(keys, row | {"name": None})["name_index"] is None


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("born", "1950-04-01", "date"),
        ("sex", "2", "int"),
        ("sex", True, "int"),
        ("name", 7, "text"),
    ],
)
def test_a_sealed_column_refuses_another_type_naming_the_column_only(
    column: str, value: object, kind: str
) -> None:
    row = {"id": "7", "name": "花子", "born": date(1950, 4, 1), "sex": 2, "kana": None}
    with pytest.raises(TypeError) as refused:
        TABLE.sealed(DataKeys.fresh(CITY), row | {column: value})
    assert str(refused.value) == f"t.people.{column}: expected {kind}, got {type(value).__name__}"


def test_a_row_moved_to_another_key_does_not_open() -> None:
    keys = DataKeys.fresh(CITY)
    sealed = TABLE.sealed(
        keys, {"id": "7", "name": "花子", "born": None, "sex": None, "kana": None}
    )
    with pytest.raises(SealBroken, match=r"^t\.people\.name: does not open"):
        TABLE.opened(keys, sealed | {"id": "8"})


# --- where the keys live, and who makes them -------------------------------------------


def test_the_data_key_folder_is_under_the_key_folder_unless_set(tmp_path: Path) -> None:
    assert AdaptersSettings().data_key_folder(CITY) == Path("var/keys/private/data/082279")
    settings = AdaptersSettings(key_dir=tmp_path / "k", data_key_dir=tmp_path / "d")
    assert settings.data_key_folder(CITY) == tmp_path / "d" / CITY


def test_a_missing_key_names_the_setting_not_its_value(tmp_path: Path) -> None:
    settings = Settings(adapters=AdaptersSettings(data_key_dir=tmp_path / "secret-place"))
    with pytest.raises(DataKeyError) as missing:
        city_data_keys(settings, CITY)
    assert "no data key for municipality 082279 in SESSHU_ADAPTERS__DATA_KEY_DIR/082279/" in str(
        missing.value
    )
    assert "secret-place" not in str(missing.value)


def test_a_new_key_is_newer_than_every_key_there_even_one_from_the_future(tmp_path: Path) -> None:
    ahead = DataKey.new(CITY, datetime.now(UTC) + timedelta(days=1))
    write_data_key(tmp_path, ahead)
    made = make_data_key(tmp_path, CITY)
    assert DataKeys.load(tmp_path, CITY).current == made
    assert made.created_at > ahead.created_at


def test_a_key_is_made_for_a_code_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="check digit"):
        make_data_key(tmp_path, "082278")
    with pytest.raises(ValueError, match="must be"):
        make_data_key(tmp_path, "../x")


def test_provisioning_makes_one_key_per_city_once(tmp_path: Path) -> None:
    made = provision_data_keys(("082279", "082074"), tmp_path)
    assert len(made) == 2
    assert provision_data_keys(("082279", "082074"), tmp_path) == []
    assert DataKeys.load(tmp_path / "082074", "082074").key_ids == (made[1],)


def test_the_stacks_provisioning_makes_the_data_keys_where_the_settings_look(
    tmp_path: Path,
) -> None:
    made = provision_keys((CITY,), tmp_path / "parties", tmp_path / "ring")
    owned = []
    for system in ("health_mgmt", "vrs"):  # each system that stores sealed columns, its own
        folder = tmp_path / "parties" / f"{system}-{CITY}"
        keys = DataKeys.load(AdaptersSettings(key_dir=folder).data_key_folder(CITY), CITY)
        assert keys.current.key_id in made
        owned.append(keys.key_ids)
    assert owned[0] != owned[1]
    assert not (tmp_path / "parties" / f"intermediate-{CITY}" / "data").exists()


def test_the_generate_command_writes_a_private_key_file(tmp_path: Path) -> None:
    done = runner.invoke(
        app,
        ["stack", "data-key", "generate", "--municipality", CITY, "--out", str(tmp_path)],
    )
    assert done.exit_code == 0, done.output
    (path,) = (tmp_path / CITY).glob(f"*{KEY_SUFFIX}")
    assert done.output.strip() == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DataKeys.load(tmp_path / CITY, CITY).current.key_id == path.stem
    refused = runner.invoke(
        app, ["stack", "data-key", "generate", "--municipality", "082278", "--out", str(tmp_path)]
    )
    assert refused.exit_code == 2
    assert "check digit" in refused.output
    assert not (tmp_path / "082278").exists()


def test_a_city_without_its_data_key_does_not_start(tmp_path: Path) -> None:
    provision_keys((CITY,), tmp_path / "parties", tmp_path / "ring")
    done = runner.invoke(
        app,
        ["stack", "city", CITY, "health_mgmt"],
        env={
            "SESSHU_ADAPTERS__KEY_DIR": str(tmp_path / "parties" / f"health_mgmt-{CITY}"),
            "SESSHU_SIGNING__RING_DIR": str(tmp_path / "ring"),
            "SESSHU_ADAPTERS__DATA_KEY_DIR": str(tmp_path / "empty"),
        },
    )
    assert done.exit_code == 2, done.output
    assert "error: no data key for municipality 082279" in done.output
    assert "SESSHU_ADAPTERS__DATA_KEY_DIR" in done.output
    assert str(tmp_path) not in done.output
