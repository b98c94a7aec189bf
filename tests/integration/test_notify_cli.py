"""``lookout notify test RECEIVER`` against a local webhook, SMTP server and Postgres."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from app.cli import main
from app.services import Services
from sinks.migrations import migrate
from tests.integration import notify_servers
from tests.integration.notify_servers import Reply, SmtpServer, WebhookServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

webhook = notify_servers.webhook
smtp_server = notify_servers.smtp_server

SECRET_PATH = "/services/T0/B0/NOTPRINTED"


def notify_file(folder: Path, smtp: SmtpServer) -> Path:
    path = folder / "notify.yaml"
    path.write_text(
        "defaults:\n"
        "  live_url: http://localhost:6066/\n"
        "receivers:\n"
        "  - name: hook\n"
        "    slack: {webhook_url: '${NOTIFY_TEST_HOOK}', channel: '#ops', timeout: 2s}\n"
        "  - name: mail\n"
        f"    email: {{host: 127.0.0.1, port: {smtp.port}, security: none,\n"
        "            from: lookout@example.com, to: [oncall@example.com], timeout: 2s}\n"
        "route: {receiver: hook}\n"
    )
    return path


async def run_cli(*args: str) -> int:
    """``lookout ARGS`` in a thread (it runs its own event loop); the exit code."""

    def call() -> int:
        try:
            main(list(args))
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    return await asyncio.to_thread(call)


@pytest.fixture
def hook_env(webhook: WebhookServer, monkeypatch: pytest.MonkeyPatch) -> WebhookServer:
    monkeypatch.setenv("NOTIFY_TEST_HOOK", webhook.url_for(SECRET_PATH))
    return webhook


async def test_sends_a_test_message_to_slack(
    hook_env: WebhookServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = notify_file(tmp_path, smtp_server)
    assert await run_cli("notify", "test", "hook", "--file", str(path)) == 0
    out = capsys.readouterr().out
    assert out.startswith("notify test: hook (slack webhook, #ops): sent in ")
    assert out.rstrip().endswith(", HTTP 200")
    [request] = hook_env.requests
    assert request.path == SECRET_PATH
    body = request.json
    assert body["text"].startswith("🧪 TEST Lookout → hook")
    assert body["channel"] == "#ops"
    assert request.key is not None and request.key.startswith("test:hook:")


async def test_sends_a_test_email(
    hook_env: WebhookServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = notify_file(tmp_path, smtp_server)
    assert await run_cli("notify", "test", "mail", "--file", str(path)) == 0
    out = capsys.readouterr().out
    assert f"mail (email via 127.0.0.1:{smtp_server.port} to oncall@example.com): sent" in out
    [mail] = smtp_server.messages
    assert mail.message["Subject"] == "[TEST] Lookout test notification for mail"
    assert hook_env.requests == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(404, "no_service"), "lookout notify test: hook (slack webhook, #ops): failed: "
                                   "hook: HTTP 404: no_service"),
        (Reply(503, "down"), "temporary failure: hook: HTTP 503: down; the dispatcher would retry"),
    ],
)  # fmt: skip
async def test_a_refusal_exits_1_and_says_why(
    hook_env: WebhookServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reply: Reply,
    expected: str,
) -> None:
    hook_env.script(reply)
    path = notify_file(tmp_path, smtp_server)
    assert await run_cli("notify", "test", "hook", "--file", str(path)) == 1
    captured = capsys.readouterr()
    assert expected in captured.err
    assert "NOTPRINTED" not in captured.err + captured.out


async def test_unreachable_smtp_exits_1(
    hook_env: WebhookServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = SmtpServer()  # never started: nothing listens on its port
    path = notify_file(tmp_path, server)
    assert await run_cli("notify", "test", "mail", "--file", str(path)) == 1
    assert "temporary failure: mail: connection: SMTPConnectError" in capsys.readouterr().err


async def test_usage_errors_exit_2(
    hook_env: WebhookServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = notify_file(tmp_path, smtp_server)
    assert await run_cli("notify", "test", "nobody", "--file", str(path)) == 2
    err = capsys.readouterr().err
    assert "no receiver 'nobody' in" in err and "(receivers: hook, mail)" in err

    assert await run_cli("notify", "test", "hook") == 2
    assert "no notify file: set LOOKOUT_NOTIFY_FILE" in capsys.readouterr().err

    monkeypatch.delenv("NOTIFY_TEST_HOOK")
    assert await run_cli("notify", "test", "hook", "--file", str(path)) == 2
    err = capsys.readouterr().err
    assert "receivers[0].slack.webhook_url" in err and "NOTIFY_TEST_HOOK is not set" in err


async def test_help_explains_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_cli("notify", "test", "--help") == 0
    out = capsys.readouterr().out
    assert "usage: lookout notify test [-h] [--file PATH] [--outbox] RECEIVER" in out
    assert "Exit code 0 when" in out
    assert await run_cli("--help") == 0
    assert "notify       notifications: `lookout notify test RECEIVER`" in capsys.readouterr().out


async def test_outbox_mode_queues_a_row(
    hook_env: WebhookServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stack_services: Services,
    pg_dsn: str,
) -> None:
    await migrate(pg_dsn, progress=lambda line: None)
    monkeypatch.setenv("LOOKOUT_BROKER_URL", stack_services.broker_url)
    monkeypatch.setenv("LOOKOUT_POSTGRES_DSN", pg_dsn)
    monkeypatch.setenv("LOOKOUT_ELASTICSEARCH_URL", stack_services.elasticsearch_url)
    path = notify_file(tmp_path, smtp_server)
    assert await run_cli("notify", "test", "hook", "--file", str(path), "--outbox") == 0
    out = capsys.readouterr().out
    assert out.startswith("notify test: queued outbox row ")
    row_id = int(out.split("outbox row ")[1].split()[0])
    conn = await asyncpg.connect(pg_dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM notifications WHERE id = $1", row_id)
    finally:
        await conn.close()
    assert row is not None
    assert (row["receiver"], row["status"], row["attempts"]) == ("hook", "pending", 0)
    assert hook_env.requests == []  # the worker's dispatcher sends it, not the command
