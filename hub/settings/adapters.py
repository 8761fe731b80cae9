"""Settings of the five systems' adapters: their keys, databases, edge folders and ports
(`sesshu stack` and the adapters read them; the hub reads only `result_retention_hours`, so
its copies of an inquiry's messages go when the intermediate server's result does, R42)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, Field, SecretStr, StringConstraints

from contracts.codes import LocalGovCode
from hub.settings.fields import CityItems, MunicipalityCodes

__all__ = ["AdaptersSettings", "MunicipalityName"]


class MunicipalityName(BaseModel):
    """A city's name as its certificates show it: the issuing body (発行者)."""

    japanese: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    english: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ,.'()-]{1,60}$")]


def _named_codes(value: dict[str, MunicipalityName]) -> dict[str, MunicipalityName]:
    for code in value:
        LocalGovCode(code)
    return value


class AdaptersSettings(BaseModel):
    """The five systems' adapters: their keys, databases, edge folders and ports."""

    municipalities: MunicipalityCodes = Field(
        default=("082279", "082074"),
        description="the cities whose adapters `sesshu stack up` starts (each a hub municipality)",
    )
    key_root: Path = Field(
        default=Path("var/keys/parties"),
        description="the stack's key folders, one per party (`<key_root>/<party>/`, 0700): "
        "`sesshu stack keys` and `sesshu stack up` make them and give each process its own",
    )
    key_dir: Path = Field(
        default=Path("var/keys/private"),
        description="this process's own key folder (`<key_id>.signing.pem`, `.sealing.pem`, "
        "its secrets): it signs with the newest valid key of the ring for its system and "
        "city, and refuses to start if the folder holds another party's private key",
    )
    data_key_dir: Path | None = Field(
        default=None,
        description="the cities' data keys, which encrypt personal data in the adapters' "
        "stores (R48): one folder per city, `<dir>/<code>/<key_id>.datakey`, never in a "
        "database (unset: `<key_dir>/data`); `sesshu stack data-key` makes and rotates them",
    )
    database_url: SecretStr = Field(
        default=SecretStr(
            "postgresql://postgres@127.0.0.1:5432/sesshu_adapters"
            "?sslmode=verify-full&sslrootcert=var/tls/ca.pem"
        ),
        description="base DSN of the adapters' own databases: a city's systems use "
        "`<name>_<code>`, the network `<name>_nws` (never the hub's database)",
    )
    data_dir: Path = Field(
        default=Path("var/adapters"),
        description="root of the edge folders, `<data_dir>/<code>/<system>/`",
    )
    roster_dir: Path = Field(
        default=Path("var/rosters"),
        description="the cities' rosters, `<dir>/<code>.toml`: the staff accounts (and "
        "contractors, with company and period), their departments' procedures and the "
        "terminal allow-list that every act at the health-management and VRS edges is "
        "checked against (R16, R26/R27, R32-R34, R23); writable by its owner only, read "
        "again when it changes; while it is missing every act is refused",
    )
    poll_interval_seconds: float = Field(
        default=2.0, gt=0, description="how often the drop folders are looked at"
    )
    result_retention_hours: float = Field(
        default=72.0,
        gt=0,
        description="finished or interrupted inquiry results are deleted this long after "
        "they arrive (R42)",
    )
    consent_not_required: MunicipalityCodes = Field(
        default=(),
        description="cities whose VRS neither sends nor requires consent on transfer-in inquiries: "
        "elsewhere the counter's row needs a consent reference, and an inquiry from another "
        "city without one or without its ID-check record is refused (VRS dropped the "
        "checkbox in Dec 2021; on by default, as the source document says)",
    )
    nondisclosed_items: CityItems = Field(
        default=(),
        description="data items whose provisions a city's intermediate server marks 不開示 "
        "(R47): its reply says so, both 情報提供等記録 keep the flag, and neither is shown "
        "to the resident (F9). Each `item` for every city or `city:item` for one",
    )
    kiosk_enrolled: MunicipalityCodes = Field(
        default=(),
        description="cities enrolled in certificate issuance through the center: it takes "
        "applications for these only, from every channel (kiosk, app, counter; R10)",
    )
    kiosk_http_host: str = Field(default="127.0.0.1", description="address of the kiosk edge")
    kiosk_http_port: int = Field(
        default=8090, ge=0, le=65535, description="first port of the kiosk edge (one per city)"
    )
    terminal_dir: Path = Field(
        default=Path("var/terminals"),
        description="the certificate centers' terminal registries, `<dir>/<code>.toml`: "
        "each terminal (kiosk, app, counter) with its channel and the SHA-256 of its own "
        "token, which it sends as a bearer credential; writable by its owner only, read "
        "again when it changes; while it is missing every terminal is refused",
    )
    certificate_wait_seconds: float = Field(
        default=20.0,
        gt=0,
        description="how long the certificate center waits for VRS before it tells the "
        "terminal no certificate could be issued",
    )
    municipality_names: Annotated[dict[str, MunicipalityName], AfterValidator(_named_codes)] = (
        Field(
            default={
                "082279": MunicipalityName(
                    japanese="茨城県筑西市", english="Chikusei City, Ibaraki"
                ),
                "082074": MunicipalityName(japanese="茨城県結城市", english="Yuki City, Ibaraki"),
            },
            description="each city's name in Japanese and English (JSON, by code): the issuing "
            "body its certificates name (the card's performer, the printed certificate's "
            "発行者); a city's VRS does not start without it",
        )
    )
    shc_issuer_url: str = Field(
        default="https://vrs.example.jp/shc",
        description="the `iss` of SMART Health Cards the VRS adapter issues",
    )
    shc_key_file: Path | None = Field(
        default=None,
        description="the VRS issuer's ES256 private key (PEM); unset, one is generated "
        "under key_dir on first start",
    )

    def data_key_folder(self, municipality: str) -> Path:
        """The folder of one city's data keys."""
        return (self.data_key_dir or self.key_dir / "data") / municipality

    def database_for(self, owner: str) -> str:
        """The DSN of one city's (or the network's) adapter database."""
        # The database is the URL's path; its query (sslrootcert=/a/path) is kept whole.
        parts = urlsplit(self.database_url.get_secret_value())
        return urlunsplit(parts._replace(path=f"{parts.path}_{owner}"))
