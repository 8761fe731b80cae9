"""What the settings' sub-models share: lists of local-government codes, which the
environment holds comma-separated ("082279,082074")."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

from contracts.codes import DataItemCode, LocalGovCode

__all__ = ["CityItems", "MunicipalityCodes", "items_for", "split_list"]


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


def _city_items(value: tuple[str, ...]) -> tuple[str, ...]:
    for entry in value:
        city, colon, item = entry.rpartition(":")
        if colon and not city:
            raise ValueError("a city code before the colon, or no colon")
        if city:
            LocalGovCode(city)
        DataItemCode(item)
    return value


CityItems = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(split_list), AfterValidator(_city_items)
]
"""Data item codes, each for every city (`vaccination.history`) or for one
(`082074:vaccination.history`), comma-separated in the environment."""


def items_for(entries: tuple[str, ...], city: str) -> frozenset[str]:
    """The data items of `entries` (CityItems) that apply to `city`."""
    found = set()
    for entry in entries:
        named, _, item = entry.rpartition(":")
        if named in ("", city):
            found.add(item)
    return frozenset(found)
