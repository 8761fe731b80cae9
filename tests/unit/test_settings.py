"""The settings object: defaults, nested environment variables, secrets kept out of repr."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from contracts.codes import SystemId
from contracts.keys import generate_key
from hub.cli import app
from hub.settings import Settings, load, unknown_variables
from hub.settings.adapters import AdaptersSettings
from hub.settings.tls import PlaintextRefused
from stack.host import _http_config as http_config
from stack.host import issuing_body


def test_defaults_point_at_the_local_services() -> None:
    settings = Settings()
    assert settings.amqp.url.get_secret_value().startswith("amqps://guest:guest@127.0.0.1:5671/")
    assert settings.database.url.get_secret_value().startswith("postgresql://")
    assert "sslmode=verify-full" in settings.database.url.get_secret_value()
    assert settings.signing.freshness().max_age == timedelta(minutes=15)


def test_nested_variables_override_and_secrets_stay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSHU_AMQP__URL", "amqp://hub:s3cret@mq.example:5672/")
    monkeypatch.setenv("SESSHU_SIGNING__MAX_AGE_SECONDS", "30")
    monkeypatch.setenv("SESSHU_SIGNING__RING_DIR", "/etc/sesshu/ring")
    settings = Settings()
    assert settings.signing.freshness().max_age == timedelta(seconds=30)
    assert settings.signing.ring_dir == Path("/etc/sesshu/ring")
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.model_dump())


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSHU_SIGNING__MAX_AGE_SECONDS", "0")
    with pytest.raises(ValidationError, match="max_age_seconds"):
        Settings()


def test_an_unknown_variable_is_named_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    assert unknown_variables({"SESSHU_HUB__BATCH_MAX": "5", "PATH": "/bin"}) == []
    assert unknown_variables({"SESSHU_HUB__BACH_MAX": "5"}) == ["SESSHU_HUB__BACH_MAX"]
    monkeypatch.setenv("SESSHU_AMQP__URLL", "amqp://elsewhere/")
    with pytest.raises(ValueError, match="SESSHU_AMQP__URLL"):
        load()


def test_the_cli_refuses_bad_settings_without_showing_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSHU_HUB__BATCH_MAX", "s3cret-looking")
    result = CliRunner().invoke(app, ["hub"])
    assert result.exit_code == 2
    assert "hub.batch_max" in result.output
    assert "s3cret-looking" not in result.output


def test_a_hub_key_file_that_is_not_a_key_stops_the_hub_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    misnamed = tmp_path / "hub.pem"
    misnamed.write_text("not a key")
    monkeypatch.setenv("SESSHU_SIGNING__HUB_KEY_FILE", str(misnamed))
    result = CliRunner().invoke(app, ["hub"])
    assert result.exit_code == 2
    assert "<key_id>.signing.pem" in result.output
    garbage = tmp_path / "hub-shared-x.signing.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("SESSHU_SIGNING__HUB_KEY_FILE", str(garbage))
    result = CliRunner().invoke(app, ["hub"])
    assert result.exit_code == 2
    assert "signing.hub_key_file: ValueError" in result.output
    generate_key(SystemId.HUB, None, key_id="hub-shared-y").write(tmp_path / "keys")
    monkeypatch.setenv(
        "SESSHU_SIGNING__HUB_KEY_FILE", str(tmp_path / "keys/hub-shared-y.signing.pem")
    )
    signer = Settings().signing.hub_signer()
    assert signer is not None
    assert signer.key_id == "hub-shared-y"


def test_a_citys_database_keeps_the_tls_query_of_the_base_whole() -> None:
    """The database is the URL's path; a CA path in the query has slashes of its own."""
    base = (
        "postgresql://vrs:pw@db.example.jp:5432/sesshu_adapters"
        "?sslmode=verify-full&sslrootcert=/etc/sesshu/tls/ca.pem"
    )
    adapters = AdaptersSettings(database_url=SecretStr(base))
    assert adapters.database_for("082279") == (
        "postgresql://vrs:pw@db.example.jp:5432/sesshu_adapters_082279"
        "?sslmode=verify-full&sslrootcert=/etc/sesshu/tls/ca.pem"
    )


def test_each_citys_name_is_its_certificates_issuing_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """A city's certificates name it (issue 16): the names come from the environment as
    JSON by local-government code, each code checked, and a city without one does not
    start its VRS."""
    monkeypatch.setenv(
        "SESSHU_ADAPTERS__MUNICIPALITY_NAMES",
        '{"082279": {"japanese": "茨城県筑西市", "english": "Chikusei City, Ibaraki"}}',
    )
    settings = Settings()
    assert issuing_body(settings, "082279").display == "Chikusei City, Ibaraki (茨城県筑西市)"
    with pytest.raises(ValueError, match=r"adapters\.municipality_names: no name for city 082074"):
        issuing_body(settings, "082074")
    for bad in (
        '{"082270": {"japanese": "筑西市", "english": "Chikusei"}}',  # check digit
        '{"082279": {"japanese": "", "english": "Chikusei"}}',
        '{"082279": {"japanese": "筑西市", "english": "筑西"}}',  # English in Latin letters
    ):
        monkeypatch.setenv("SESSHU_ADAPTERS__MUNICIPALITY_NAMES", bad)
        with pytest.raises(ValidationError, match="municipality_names"):
            Settings()


def test_the_certificate_center_serves_https_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Terminals' tokens and typed My Numbers cross the center's link: without its
    certificate it does not start, unless plaintext is allowed (development only)."""
    monkeypatch.delenv("SESSHU_TLS__KIOSK_CERT_FILE", raising=False)
    monkeypatch.delenv("SESSHU_TLS__ALLOW_PLAINTEXT", raising=False)
    with pytest.raises(PlaintextRefused, match=r"tls\.kiosk_cert_file"):
        http_config(object(), Settings(), "082279")
    monkeypatch.setenv("SESSHU_TLS__ALLOW_PLAINTEXT", "true")
    assert http_config(object(), Settings(), "082279").ssl_certfile is None
