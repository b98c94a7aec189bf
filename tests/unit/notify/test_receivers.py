"""Receiver models: ${VAR} expansion, secrets, validation messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from notifications.receivers import Receiver, expand_env

ENV = {
    "HOOK": "https://hooks.slack.com/services/T0/B0/SECRET",
    "SMTP_USER": "lookout",
    "SMTP_PASSWORD": "p4ss",
    "SMTP_HOST": "smtp.example.com",
}


def slack(**fields: Any) -> dict[str, Any]:
    return {"name": "ops-slack", "slack": {"webhook_url": "${HOOK}", **fields}}


def email(**fields: Any) -> dict[str, Any]:
    base = {"host": "${SMTP_HOST}", "from": "lookout@example.com", "to": ["oncall@example.com"]}
    return {"name": "ops-email", "email": {**base, **fields}}


def load(data: Any, env: dict[str, str] | None = None) -> Receiver:
    return Receiver.model_validate(data, context={"environ": ENV if env is None else env})


def error(data: Any, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        load(data, env)
    return str(info.value)


def test_slack_defaults_and_secret() -> None:
    r = load(slack(channel="#ops"))
    assert r.kind == "slack" and r.slack is not None
    assert r.slack.webhook_url.get_secret_value() == ENV["HOOK"]
    assert (r.rate, r.burst, r.timeout, r.slack.channel) == (1.0, 3, 10.0, "#ops")
    assert "SECRET" not in repr(r) and "SECRET" not in str(r.model_dump())


def test_email_defaults_ports_and_auth() -> None:
    r = load(email(username="${SMTP_USER}", password="${SMTP_PASSWORD}", timeout="30s"))
    assert r.kind == "email" and r.email is not None
    assert r.email.host == "smtp.example.com"
    assert (r.email.security, r.email.effective_port) == ("starttls", 587)
    assert r.email.username == "lookout"
    assert r.email.password is not None and r.email.password.get_secret_value() == "p4ss"
    assert (r.rate, r.burst, r.timeout) == (1.0, 5, 30.0)
    assert "p4ss" not in repr(r)
    assert load(email(security="tls")).email.effective_port == 465  # type: ignore[union-attr]
    assert load(email(security="none")).email.effective_port == 25  # type: ignore[union-attr]
    assert load(email(to="one@example.com")).email.to == ["one@example.com"]  # type: ignore[union-attr]


def test_empty_optional_credentials_mean_none() -> None:
    r = load(email(username="${U}", password="${P}"), {**ENV, "U": "", "P": ""})
    assert r.email is not None and r.email.username is None and r.email.password is None


def test_missing_variable_names_receiver_field_and_variable() -> None:
    text = error(slack(), env={})
    assert "receiver 'ops-slack': slack.webhook_url: environment variable HOOK is not set" in text
    text = error(email(to=["${TEAM}@example.com"]))
    assert "receiver 'ops-email': email.to[0]: environment variable TEAM is not set" in text


def test_secret_written_in_the_file_is_refused() -> None:
    text = error({"name": "x", "slack": {"webhook_url": "https://hooks.slack.com/services/A/B"}})
    assert "receiver 'x': slack.webhook_url: a secret must come from the environment" in text
    assert "write webhook_url: ${SLACK_WEBHOOK_URL} and export that variable" in text
    assert "hooks.slack.com/services/A/B" not in text.split("input_value")[0]
    text = error(email(username="u", password="literal"))
    assert "email.password: a secret must come from the environment" in text


def test_secret_with_a_variable_inside_is_fine() -> None:
    r = load({"name": "x", "slack": {"webhook_url": "https://hooks.slack.com/services/${TOKEN}"}},
             {"TOKEN": "T/B/C"})  # fmt: skip
    assert r.slack is not None
    assert r.slack.webhook_url.get_secret_value() == "https://hooks.slack.com/services/T/B/C"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x"}, "give exactly one of slack: or email: (neither given)"),
        ({**slack(), **email(), "name": "x"}, "give exactly one of slack: or email: (both given)"),
        (slack(rate=0), "greater than 0"),
        (slack(burst=0), "greater than or equal to 1"),
        (slack(colour="red"), "Extra inputs are not permitted"),
        (email(security="ssl"), "'starttls', 'tls' or 'none'"),
        (email(to=[]), "at least 1 item"),
        (email(to=["not-an-address"]), "to[0]: 'not-an-address' is not an email address"),
        (email(**{"from": "nobody"}), "from: 'nobody' is not an email address"),
        (email(username="u"), "username and password go together"),
        (email(timeout="soon"), "expected a duration like 60s"),
        ({"name": "bad name!", "slack": {"webhook_url": "${HOOK}"}}, "should match pattern"),
    ],
)
def test_invalid_receivers(data: dict[str, Any], message: str) -> None:
    assert message in error(data)


def test_secrets_are_never_echoed_in_errors() -> None:
    text = error(slack(), {"HOOK": "ftp://secret-host/path"})
    assert "expected an http:// or https:// URL" in text
    assert "secret-host" not in text
    text = error(email(username="u", password="${P}", port=0), {**ENV, "P": "hunter2"})
    assert "hunter2" not in text


def test_expand_env_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand_env("x${A}y${B}", env, receiver="r", field="f") == "x1ytwo"
    assert expand_env("cost $$5 and $A", env, receiver="r", field="f") == "cost $5 and $A"
    with pytest.raises(ValueError, match=r"receiver 'r': f: \$\{1X\} is not a valid variable name"):
        expand_env("${1X}", env, receiver="r", field="f")
    with pytest.raises(ValueError, match=r"LOOKOUT_\* variables are settings; .* \$\{SLACK_HOOK\}"):
        expand_env("${LOOKOUT_SLACK_HOOK}", {"LOOKOUT_SLACK_HOOK": "x"}, receiver="r", field="f")
