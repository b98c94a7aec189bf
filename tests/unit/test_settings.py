"""Settings read from LOOKOUT_* variables: LOOKOUT_CORS_ORIGINS."""

from __future__ import annotations

import pytest

from app.settings import ConfigError, load_settings


def test_cors_is_off_by_default() -> None:
    assert load_settings({}).cors_origins == ()


def test_cors_origins_are_a_comma_list() -> None:
    env = {"LOOKOUT_CORS_ORIGINS": " https://ops.example.com, http://127.0.0.1:8080 ,HTTP://A.b"}
    assert load_settings(env).cors_origins == (
        "https://ops.example.com",
        "http://127.0.0.1:8080",
        "http://a.b",
    )


@pytest.mark.parametrize(
    "value", ["*", "https://ops.example.com/", "ops.example.com", "ftp://x", "https://a/b"]
)
def test_a_bad_origin_fails_at_start_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=r"LOOKOUT_CORS_ORIGINS: .* is not an origin"):
        load_settings({"LOOKOUT_CORS_ORIGINS": value})


def test_a_misspelt_variable_names_the_right_one() -> None:
    with pytest.raises(ConfigError, match="did you mean LOOKOUT_CORS_ORIGINS"):
        load_settings({"LOOKOUT_CORS_ORIGIN": "https://a.example"})
