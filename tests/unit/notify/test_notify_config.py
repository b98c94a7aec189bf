"""The notify file: the shipped example loads, and each mistake names file, place and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import ConfigError, load_settings
from notifications.config import (
    NotifyConfigError,
    from_settings,
    load_notify_config,
    parse_notify_config,
)
from notifications.reasons import CatchUp

EXAMPLE = Path(__file__).resolve().parents[3] / "notify" / "notify.yaml"
ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
    "SMTP_HOST": "smtp.example.com",
    "SMTP_USER": "lookout",
    "SMTP_PASSWORD": "s3cret",
}
BASE = """
receivers:
  - name: ops-slack
    slack: {webhook_url: "${HOOK}"}
  - name: ops-email
    email: {host: smtp.example.com, from: a@example.com, to: [b@example.com]}
"""


def parse(text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_notify_config(BASE + text, "n.yaml", {"HOOK": "http://hook/x", **(env or {})})


def test_the_shipped_example_loads() -> None:
    config = load_notify_config(EXAMPLE, ENV)
    assert [r.name for r in config.receivers] == ["ops-slack", "ops-email"]
    assert config.route.receiver == "ops-slack" and config.route.group_by == ("rule",)
    email, rest = config.route.routes
    assert (email.receiver, email.continue_, email.group_wait) == ("ops-email", True, 10)
    assert email.repeat_interval == 4 * 3600  # inherited
    assert rest.receiver == "ops-slack" and rest.match == ()
    (inhibit,) = config.inhibit_rules
    assert inhibit.equal == ("host",)
    assert config.defaults.live_url == "http://localhost:6066/"
    assert config.path == EXAMPLE
    assert (config.retry.base, config.retry.cap, config.retry.max_attempts) == (1.0, 300.0, 20)
    assert config.retry.max_age == 3600.0
    slack = config.receiver("ops-slack")
    assert slack is not None and slack.slack is not None
    assert slack.slack.webhook_url.get_secret_value() == ENV["SLACK_WEBHOOK_URL"]
    assert "services" not in repr(config)  # secrets are never shown


def test_a_minimal_file() -> None:
    config = parse("route: {receiver: ops-slack}\n")
    assert config.route.group_wait == 30 and config.route.routes == ()
    assert config.inhibit_rules == () and config.defaults.live_url is None


def test_the_retry_policy_defaults_and_can_be_set() -> None:
    default = parse("route: {receiver: ops-slack}\n").retry
    assert (default.base, default.cap, default.max_attempts, default.max_age) == (
        1.0,
        300.0,
        20,
        3600.0,
    )
    set_ = parse(
        "route: {receiver: ops-slack}\n"
        "retry: {initial: 2s, max_delay: 10m, max_attempts: 20, give_up_after: 6h}\n"
    ).retry
    assert (set_.base, set_.cap, set_.max_attempts, set_.max_age) == (2.0, 600.0, 20, 21_600.0)
    assert set_.ceiling(1) == 2.0 and set_.ceiling(30) == 600.0


def test_catch_up_is_notify_unless_a_route_says_skip() -> None:
    assert parse("route: {receiver: ops-slack}\n").route.catch_up is CatchUp.NOTIFY
    config = parse(
        "route:\n  receiver: ops-slack\n  catch_up: skip\n"
        "  routes:\n    - {receiver: ops-email}\n    - {receiver: ops-email, catch_up: notify}\n"
    )
    assert [r.catch_up for r in config.route.walk()] == [CatchUp.SKIP, CatchUp.SKIP, CatchUp.NOTIFY]


def test_durations_and_matchers() -> None:
    config = parse(
        "route:\n  receiver: ops-slack\n  group_wait: 0s\n  group_interval: 1m30s\n"
        "  routes:\n    - match: {severity: critical, port: 8080}\n"
        "      match_re: {service: 'shop|api'}\n      receiver: ops-email\n"
    )
    assert config.route.group_wait == 0 and config.route.group_interval == 90
    (child,) = config.route.routes
    assert [str(m) for m in child.match] == [
        'severity="critical"',
        'port="8080"',
        'service=~"shop|api"',
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "route: {receiver: ops-slak}\n",
            "n.yaml: route.receiver: unknown receiver 'ops-slak' (receivers: ops-slack, ops-email;"
            " did you mean 'ops-slack'?); add it under receivers: or fix the name",
        ),
        (
            "route:\n  receiver: ops-slack\n  routes:\n    - {receiver: pager, match: {a: b}}\n",
            "n.yaml: route.routes[0].receiver: unknown receiver 'pager'",
        ),
        ("route: {group_by: [rule]}\n", "n.yaml: route.receiver: required on the root route"),
        (
            "route: {receiver: ops-slack, group_wait: soon}\n",
            "n.yaml: route.group_wait: expected a duration like 60s, 5m, 1h or 1m30s",
        ),
        (
            "route: {receiver: ops-slack, group_interval: 0s}\n",
            "n.yaml: route.group_interval: Input should be greater than or equal to 1",
        ),
        (
            "route: {receiver: ops-slack, group_by: ['...', host]}\n",
            "n.yaml: route.group_by: '...' means every label: use it alone",
        ),
        (
            "route:\n  receiver: ops-slack\n  routes:\n    - match_re: {host: 'web-('}\n",
            "n.yaml: route.routes[0].match_re.host: bad regular expression 'web-('",
        ),
        (
            "route:\n  receiver: ops-slack\n  routes:\n    - {recevier: ops-email}\n",
            "n.yaml: route.routes[0].recevier: unknown field (did you mean 'receiver'?)",
        ),
        (
            "route: {receiver: ops-slack, match: {a: b}}\n",
            "n.yaml: route: the root route matches every alert",
        ),
        (
            "route: {receiver: ops-slack, catch_up: off}\n",
            "n.yaml: route.catch_up: Input should be 'notify' or 'skip' (given False)",
        ),
        (
            "route: {receiver: ops-slack, catchup: skip}\n",
            "n.yaml: route.catchup: unknown field (did you mean 'catch_up'?)",
        ),
        ("routes: []\n", "n.yaml: routes: unknown top-level key (did you mean 'route'?)"),
        ("inhibit_rules: []\n", "n.yaml: route: required"),
        (
            "route: {receiver: ops-slack}\ninhibit_rules:\n  - {equal: [host]}\n",
            "n.yaml: inhibit_rules[0]: needs source_match or source_match_re",
        ),
        (
            "route: {receiver: ops-slack}\n"
            "inhibit_rules:\n  - {source_match: {a: b}, equals: [x]}\n",
            "n.yaml: inhibit_rules[0].equals: unknown field (did you mean 'equal'?)",
        ),
        (
            "route: {receiver: ops-slack}\ndefaults: {live_url: '${LIVE}'}\n",
            "n.yaml: defaults.live_url: environment variable LIVE is not set",
        ),
        (
            "route: {receiver: ops-slack}\ndefaults: {live_url: 'localhost:6066'}\n",
            "n.yaml: defaults.live_url: expected an http:// or https:// URL",
        ),
        ("route: [\n", "n.yaml: not valid YAML at line"),
        (
            "route: {receiver: ops-slack}\nretry: {max_attempt: 3}\n",
            "n.yaml: retry.max_attempt: unknown field (did you mean 'max_attempts'?)",
        ),
        (
            "route: {receiver: ops-slack}\nretry: {initial: 10s, max_delay: 5s}\n",
            "n.yaml: retry.max_delay: must be at least retry.initial",
        ),
        (
            "route: {receiver: ops-slack}\nretry: {max_attempts: 0}\n",
            "n.yaml: retry.max_attempts: Input should be greater than or equal to 1",
        ),
        (
            "route: {receiver: ops-slack}\nretry: {give_up_after: later}\n",
            "n.yaml: retry.give_up_after: expected a duration like 60s, 5m, 1h or 1m30s",
        ),
    ],
)
def test_mistakes_name_the_place_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(NotifyConfigError) as caught:
        parse(text)
    assert str(caught.value).startswith(message), str(caught.value)


def test_receiver_problems_name_the_receiver_field_and_never_the_secret() -> None:
    text = (
        "receivers:\n  - name: ops-slack\n    slack: {webhook_url: '${HOOK}'}\n"
        "  - name: pager\n    slack: {webhook_url: 'https://hooks.slack.com/literal-s3cret'}\n"
        "route: {receiver: ops-slack}\n"
    )
    with pytest.raises(NotifyConfigError) as caught:
        parse_notify_config(text, "n.yaml", {"HOOK": "http://h/x"})
    assert str(caught.value).startswith("n.yaml: receivers[1].slack.webhook_url: a secret must")
    assert "literal-s3cret" not in str(caught.value)
    with pytest.raises(NotifyConfigError, match=r"receivers\[0\]\.slack\.webhook_url: environment"):
        parse_notify_config(text, "n.yaml", {})


def test_duplicate_receivers() -> None:
    text = BASE + "  - name: ops-slack\n    slack: {webhook_url: '${HOOK}'}\n"
    text += "route: {receiver: ops-slack}\n"
    with pytest.raises(NotifyConfigError, match=r"receivers\[2\]\.name: 'ops-slack' is used twice"):
        parse_notify_config(text, "n.yaml", {"HOOK": "http://h/x"})


def test_settings_name_the_variable(tmp_path: Path) -> None:
    assert from_settings(load_settings({})) is None  # unset: notifications off
    bad = tmp_path / "notify.yaml"
    bad.write_text(BASE + "route: {receiver: nobody}\n")
    settings = load_settings({"LOOKOUT_NOTIFY_FILE": str(bad)})
    with pytest.raises(ConfigError) as caught:
        from_settings(settings, {"HOOK": "http://h/x"})
    text = str(caught.value)
    assert text.startswith(f"LOOKOUT_NOTIFY_FILE={bad}: route.receiver: unknown receiver")
    assert "set LOOKOUT_NOTIFY=off" in text
    off = load_settings({"LOOKOUT_NOTIFY_FILE": str(bad), "LOOKOUT_NOTIFY": "off"})
    assert from_settings(off) is None
    with pytest.raises(ConfigError, match="LOOKOUT_NOTIFY_FILE: no such file"):
        load_settings({"LOOKOUT_NOTIFY_FILE": str(tmp_path / "missing.yaml")})
    with pytest.raises(ConfigError, match="LOOKOUT_NOTIFY: 'on' needs LOOKOUT_NOTIFY_FILE"):
        load_settings({"LOOKOUT_NOTIFY": "on"})


def test_the_notifier_s_dispatcher_uses_the_file_s_retry_policy() -> None:
    from agents.notifier import Notifier

    config = parse("route: {receiver: ops-slack}\nretry: {initial: 3s, max_attempts: 4}\n")
    notifier = Notifier(
        load_settings({}), config, bootstrap_servers="127.0.0.1:1", dsn="postgresql://x/y"
    )
    dispatcher = notifier.new_dispatcher()
    assert dispatcher.policy == config.retry
    assert (dispatcher.policy.base, dispatcher.policy.max_attempts) == (3.0, 4)
