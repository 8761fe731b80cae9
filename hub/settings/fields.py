"""What the settings' sub-models share: lists of local-government codes, which the
environment holds comma-separated ("082279,082074")."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

from contracts.codes import LocalGovCode

__all__ = ["MunicipalityCodes", "split_list"]


def split_list(value: object) -> object:
    """An environment variable holds "082279,082074"; a list in Python is a tuple."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


def _codes(value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(LocalGovCode(v) for v in value)


MunicipalityCodes = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(split_list), AfterValidator(_codes)
]
"""Local-government codes, each checked; NoDecode: the environment's text is no JSON."""
