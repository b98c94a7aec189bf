"""Receivers: where notifications go (a Slack incoming webhook or an SMTP server).

A receiver is written in the notify file (see docs/NOTIFY-CONTRACT.md)::

    receivers:
      - name: ops-slack
        slack: {webhook_url: "${SLACK_WEBHOOK_URL}", channel: "#ops", rate: 1.0, burst: 3}
      - name: ops-email
        email: {host: smtp.example.com, port: 587, security: starttls,
                username: "${SMTP_USER}", password: "${SMTP_PASSWORD}",
                from: lookout@example.com, to: [oncall@example.com], timeout: 10s}

``${VAR}`` in any text value is replaced by the environment variable ``VAR`` (``$$`` is a literal
``$``); a variable that is not set is an error naming the receiver, the field and the variable.
Names starting with ``LOOKOUT_`` are refused: that prefix belongs to settings, and
``load_settings`` rejects unknown ``LOOKOUT_*`` variables.
Secrets (``slack.webhook_url``, ``email.password``) must be written as ``${VAR}``: a literal
secret in the file is refused, so notify.yaml can be committed. They are kept as ``SecretStr``
and never logged.

The environment comes from the validation context: ``Receiver.model_validate(data,
context={"environ": env})`` (as :func:`notifications.config.load_notify_config` does); without
one, the process environment is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from alerting.yaml_types import Duration

_VAR = re.compile(r"\$\$|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RECEIVER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
SECRET_FIELDS = {"slack": ("webhook_url",), "email": ("password",)}
SECRET_EXAMPLES = {"webhook_url": "SLACK_WEBHOOK_URL", "password": "SMTP_PASSWORD"}
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


def expand_env(text: str, environ: Mapping[str, str], *, receiver: str, field: str) -> str:
    """Replace ``${VAR}`` in ``text`` (``$$`` is a literal ``$``); unknown variables raise."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if not _NAME.match(name):
            raise ValueError(
                f"receiver {receiver!r}: {field}: ${{{name}}} is not a valid variable name "
                "(letters, digits and _; write $$ for a literal $)"
            )
        if name.upper().startswith("LOOKOUT_"):
            raise ValueError(
                f"receiver {receiver!r}: {field}: ${{{name}}}: LOOKOUT_* variables are settings; "
                f"name it without the prefix (e.g. ${{{name[len('LOOKOUT_') :]}}})"
            )
        if name not in environ:
            raise ValueError(
                f"receiver {receiver!r}: {field}: environment variable {name} is not set "
                f"(export {name} before starting Lookout)"
            )
        return environ[name]

    return _VAR.sub(replace, text)


def _expand_section(
    kind: str, section: Mapping[str, Any], environ: Mapping[str, str], receiver: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in section.items():
        field = f"{kind}.{key}"
        if key in SECRET_FIELDS.get(kind, ()) and isinstance(value, str) and "${" not in value:
            raise ValueError(
                f"receiver {receiver!r}: {field}: a secret must come from the environment, not "
                f"the file: write {key}: ${{{SECRET_EXAMPLES[key]}}} and export that variable"
            )
        if isinstance(value, str):
            text = expand_env(value, environ, receiver=receiver, field=field)
            # Wrapped at once, so a validation error shows '**********', never the secret.
            out[key] = SecretStr(text) if key in SECRET_FIELDS.get(kind, ()) else text
        elif isinstance(value, list):
            out[key] = [
                expand_env(v, environ, receiver=receiver, field=f"{field}[{i}]")
                if isinstance(v, str)
                else v
                for i, v in enumerate(value)
            ]
        else:
            out[key] = value
    return out


def _check_address(value: str, field: str) -> str:
    text = value.strip()
    _, address = parseaddr(text)
    if not address or "@" not in address or any(c in text for c in "\r\n"):
        raise ValueError(f"{field}: {value!r} is not an email address")
    return text


def _check_http_url(url: str, field: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{field}: expected an http:// or https:// URL")


class SlackReceiver(BaseModel):
    """A Slack incoming webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: SecretStr
    channel: str | None = None
    rate: float = Field(1.0, gt=0, le=1000, description="messages per second")
    burst: int = Field(3, ge=1, le=1000, description="messages sent at once before rate applies")
    timeout: Duration = Field(10.0, gt=0, le=300, description="seconds one POST may take")

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if not url:
            raise ValueError("webhook_url is empty (is its environment variable set to ''?)")
        _check_http_url(url, "webhook_url")  # the message never repeats the URL (a secret)
        return SecretStr(url)


class EmailReceiver(BaseModel):
    """An SMTP server and the addresses of one email receiver."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535, description="default by security")
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    rate: float = Field(1.0, gt=0, le=1000)
    burst: int = Field(5, ge=1, le=1000)
    timeout: Duration = Field(10.0, gt=0, le=300)
    ca_file: Path | None = Field(None, description="CA bundle to verify the server's certificate")

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        return [_check_address(v, f"to[{i}]") for i, v in enumerate(value)]

    @field_validator("from_")
    @classmethod
    def _check_from(cls, value: str) -> str:
        return _check_address(value, "from")

    @field_validator("username", "password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value if value.get_secret_value() else None
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_auth(self) -> EmailReceiver:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both or neither")
        return self

    @property
    def effective_port(self) -> int:
        """The port, or the usual one for ``security`` (587, 465 or 25)."""
        return self.port or DEFAULT_PORTS[self.security]


class Receiver(BaseModel):
    """A named receiver: exactly one of ``slack`` or ``email``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_RECEIVER_NAME, max_length=100)
    slack: SlackReceiver | None = None
    email: EmailReceiver | None = None

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        context = info.context if isinstance(info.context, Mapping) else {}
        environ: Mapping[str, str] = context.get("environ", os.environ)
        name = str(data.get("name", "?"))
        out = dict(data)
        for kind in ("slack", "email"):
            section = data.get(kind)
            if isinstance(section, Mapping):
                out[kind] = _expand_section(kind, section, environ, name)
        return out

    @model_validator(mode="after")
    def _exactly_one(self) -> Receiver:
        if (self.slack is None) == (self.email is None):
            raise ValueError(
                f"receiver {self.name!r}: give exactly one of slack: or email: "
                f"({'both' if self.slack else 'neither'} given)"
            )
        return self

    @property
    def kind(self) -> Literal["slack", "email"]:
        """``slack`` or ``email``."""
        return "slack" if self.slack is not None else "email"

    @property
    def rate(self) -> float:
        """Messages per second this receiver is sent."""
        return self.slack.rate if self.slack is not None else self._email.rate

    @property
    def burst(self) -> int:
        """Messages that may go at once before ``rate`` applies."""
        return self.slack.burst if self.slack is not None else self._email.burst

    @property
    def timeout(self) -> float:
        """Seconds one send may take."""
        return self.slack.timeout if self.slack is not None else self._email.timeout

    @property
    def _email(self) -> EmailReceiver:
        assert self.email is not None
        return self.email
