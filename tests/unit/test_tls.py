"""`sesshu tls init` (files, modes, SANs, idempotence, renewal) and the plaintext rule."""

from __future__ import annotations

import ipaddress
import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from pydantic import SecretStr
from typer.testing import CliRunner

from hub.settings import PlaintextRefused, Settings, load
from hub.settings.tls import TlsSettings, check_plaintext
from hub.tls import amqp_ssl_context, warn_plaintext
from stack import tls
from stack.cli_tls import tls_app

TLS_AMQP = "amqps://hub:pw@127.0.0.1:5671/?cafile=/ca.pem"
TLS_PG = "postgresql://hub@127.0.0.1:5432/sesshu?sslmode=verify-full&sslrootcert=/ca.pem"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_init_makes_a_ca_and_a_certificate_per_service_with_private_modes(tmp_path: Path) -> None:
    where = tmp_path / "tls"
    assert tls.init(where) == ["ca", *tls.SERVICES]
    assert _mode(where) == 0o700
    assert _mode(where / "ca.key") == 0o600
    ca = _cert(where / "ca.pem")
    for service in tls.SERVICES:
        assert _mode(where / f"{service}.key") == 0o600
        cert = _cert(where / f"{service}.pem")
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == ["localhost"]
        assert names.get_values_for_type(x509.IPAddress) == [
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
        ]


def test_init_again_keeps_what_is_valid_and_renews_what_nears_expiry(tmp_path: Path) -> None:
    tls.init(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert tls.init(tmp_path) == []
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # A year on, the servers' certificates are within the renewal window; the CA is not.
    later = datetime.now(UTC) + timedelta(days=380)
    assert tls.init(tmp_path, now=later) == list(tls.SERVICES)
    assert (tmp_path / "ca.pem").read_bytes() == before["ca.pem"]
    # A new CA (near its own expiry) reissues every certificate under it.
    assert tls.init(tmp_path, now=later + timedelta(days=3640)) == ["ca", *tls.SERVICES]


def test_the_cli_writes_into_the_folder_given(tmp_path: Path) -> None:
    result = CliRunner().invoke(tls_app, ["init", "--dir", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert "sslmode=verify-full" in result.output
    assert (tmp_path / "t" / "desk.pem").exists()


def _settings(amqp: str = TLS_AMQP, pg: str = TLS_PG, *, allow: bool = False) -> Settings:
    base = Settings()
    return base.model_copy(
        update={
            "amqp": base.amqp.model_copy(update={"url": SecretStr(amqp)}),
            "database": base.database.model_copy(update={"url": SecretStr(pg)}),
            "adapters": base.adapters.model_copy(update={"database_url": SecretStr(pg)}),
            "tls": TlsSettings(allow_plaintext=allow),
        }
    )


def test_the_defaults_are_tls_and_pass() -> None:
    assert check_plaintext(Settings()) == []


@pytest.mark.parametrize(
    ("amqp", "pg", "named"),
    [
        (
            "amqp://guest:guest@127.0.0.1:5672/",
            TLS_PG,
            "amqp.url: plaintext AMQP is refused; "
            "use amqps:// or set tls.allow_plaintext for development",
        ),
        (TLS_AMQP + "&no_verify_ssl=1", TLS_PG, "amqp.url: no_verify_ssl"),
        (TLS_AMQP, "postgresql://hub@127.0.0.1/sesshu", "database.url: PostgreSQL without"),
        (TLS_AMQP, "postgresql://hub@db/sesshu?sslmode=require", "(sslmode=require)"),
    ],
)
def test_a_link_without_verified_tls_is_refused_naming_the_setting(
    amqp: str, pg: str, named: str
) -> None:
    with pytest.raises(PlaintextRefused, match=r"tls\.allow_plaintext") as refused:
        check_plaintext(_settings(amqp, pg))
    assert named in str(refused.value)


def test_allowed_plaintext_passes_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings("amqp://guest:guest@127.0.0.1:5672/", "postgresql://h@x/db", allow=True)
    assert len(check_plaintext(settings)) == 3
    with caplog.at_level(logging.WARNING):
        warn_plaintext(settings, logging.getLogger("sesshu.hub"))
        warn_plaintext(_settings(), logging.getLogger("sesshu.hub"))  # all TLS: silent
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "amqp.url" in caplog.text
    assert "adapters.database_url" in caplog.text


def test_load_refuses_a_plaintext_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSHU_AMQP__URL", "amqp://guest:guest@127.0.0.1:5672/")
    with pytest.raises(PlaintextRefused, match=r"^amqp\.url: plaintext AMQP is refused"):
        load()
    monkeypatch.setenv("SESSHU_TLS__ALLOW_PLAINTEXT", "true")
    assert load().tls.allow_plaintext


def test_the_amqp_context_verifies_against_the_urls_ca(tmp_path: Path) -> None:
    tls.init(tmp_path, services=())
    context = amqp_ssl_context(_settings(f"amqps://h:p@127.0.0.1:5671/?cafile={tmp_path}/ca.pem"))
    assert context is not None
    assert context.check_hostname
    assert len(context.get_ca_certs()) == 1
    assert amqp_ssl_context(_settings("amqp://guest:guest@127.0.0.1:5672/", allow=True)) is None
