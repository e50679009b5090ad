"""What ``riso check`` and ``riso settings`` derive from a settings model, and how values show."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

import riso
from riso._settings_report import MASK, render
from riso._variables import Environment, field_variables, read_elsewhere


class Nested(BaseModel):
    host: str = "localhost"


class Model(riso.Settings):
    model_config = SettingsConfigDict(env_prefix="RISO_DEMO_", env_nested_delimiter="__")

    plain: int = 1
    url: SecretStr = Field(
        default=SecretStr("sqlite://"), validation_alias=AliasChoices("RISO_DEMO_URL", "DEMO_URL")
    )
    server: Nested = Nested()


def test_field_variables_come_from_prefix_fields_aliases_and_delimiter() -> None:
    found = {f.field: f for f in field_variables(Model)}
    assert found["plain"].names == ("RISO_DEMO_PLAIN",)
    assert found["url"].names == ("RISO_DEMO_URL", "DEMO_URL")
    assert found["server"].reads("riso_demo_server__host")  # case-insensitive, nested
    assert not found["server"].reads("RISO_DEMO_SERVERS")
    assert not found["plain"].reads("RISO_DEMO_PLAIN__X")  # the delimiter is for the field's name


@pytest.mark.parametrize(
    ("environ", "dotenv", "source"),
    [
        ({}, {}, "default"),
        ({"RISO_DEMO_PLAIN": "2"}, {}, "environment"),
        ({}, {"riso_demo_plain": "2"}, ".env"),
        ({"RISO_DEMO_PLAIN": "2"}, {"RISO_DEMO_PLAIN": "3"}, "environment"),
    ],
)
def test_the_source_is_where_pydantic_settings_reads_the_value(
    environ: dict[str, str], dotenv: dict[str, str], source: str
) -> None:
    plain = next(f for f in field_variables(Model) if f.field == "plain")
    assert Environment(environ, dotenv).source(plain) == source


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("RISO_CI", True),
        ("RISO_TEST_DB_URL", True),
        ("riso_test_redis", True),
        ("RISO_FUZZ_EXAMPLES", True),
        ("RISO_CIX", False),
        ("RISO_TESTING", False),
    ],
)
def test_variables_read_elsewhere_are_an_explicit_list(name: str, allowed: bool) -> None:
    assert read_elsewhere(name) is allowed


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("secret_key", SecretStr("s3cr3t-value"), MASK),
        ("url", SecretStr("postgresql://app:pw@db:5432/app?sslpassword=x"), f"postgresql://app:{MASK}@db:5432/app"),
        ("url", SecretStr("sqlite:///./riso.db"), "sqlite:///./riso.db"),
        ("broker_url", "redis://:pw@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("broker_url", "redis://cache/0?password=pw&db=1", f"redis://cache/0?password={MASK}&db=1"),
        ("broker_url", "amqp://guest@rabbit//", "amqp://guest@rabbit//"),
        ("api_key", "abc", MASK),
        ("password_hint", "", '""'),
        ("cookie_name", "__Host-riso", '"__Host-riso"'),
        ("access_token_lifetime", 900, "900"),
        ("metrics_token", None, "(unset)"),
        ("options", {"password": "pw", "ttl": 5}, f'{{"password": "{MASK}", "ttl": 5}}'),
        ("flag", True, "true"),
    ],
)  # fmt: skip
def test_values_are_shown_with_secrets_masked(name: str, value: Any, shown: str) -> None:
    assert render(name, value) == shown
