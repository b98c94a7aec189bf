"""Command-line options: parsing, checks with messages that name the flag, help, progress."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime

import pytest

from devtools.simulator.cli import build_parser, options_from_args, stderr_progress
from devtools.simulator.options import OptionsError, SimOptions
from devtools.simulator.scenarios import Timeline


def parse(*argv: str) -> SimOptions:
    return options_from_args(build_parser().parse_args(list(argv)))


def test_defaults_match_sim_options() -> None:
    opts = parse()
    assert isinstance(opts.timeline, str)
    assert opts == SimOptions()
    assert not opts.fast


def test_every_option() -> None:
    opts = parse(
        "--hosts", "4", "--services", "2", "--interval", "5", "--format", "influx", "--rate", "7.5",
        "--seed", "9", "--speed", "60", "--duration", "10m", "--start", "2024-01-01T00:00:00Z",
        "--timeline", "cpu_saturation@60+60:host=host-001", "--no-app-logs", "--raw-logs",
    )  # fmt: skip
    assert opts == SimOptions(
        hosts=4, services=2, interval=5.0, format="influx", rate=7.5, seed=9, speed=60.0,
        duration=600.0, start=datetime(2024, 1, 1, tzinfo=UTC),
        timeline="cpu_saturation@60+60:host=host-001", app_logs=False, raw_logs=True,
    )  # fmt: skip
    assert opts.fast
    assert parse("--count", "100").fast


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hosts", "0"], "--hosts must be between 1 and 100000 (given 0)"),
        (["--interval", "2.5"], "--interval must be a whole number of seconds"),
        (["--speed", "0"], "--speed must be greater than 0"),
        (["--count", "0"], "--count must be at least 1"),
        (["--rate", "-1"], "--rate must be between 0"),
        (["--duration", "forever"], "--duration 'forever' is not a number of seconds"),
        (["--start", "yesterday"], "--start 'yesterday' is not an ISO 8601 time"),
        (["--timeline", "oops@1+2"], "--timeline: timeline item 'oops@1+2': unknown scenario"),
        (["--hosts", "2", "--timeline", "host_silent@0+9:host=5"], "no host '5'"),
    ],
)
def test_bad_values_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(OptionsError) as info:
        parse(*argv)
    assert message in str(info.value)


def test_start_without_zone_is_utc() -> None:
    assert parse("--start", "2024-01-01T01:00:00").start == datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert parse("--start", "2024-01-01T01:00:00+01:00").start == datetime(2024, 1, 1, tzinfo=UTC)


def test_options_accept_a_timeline_object() -> None:
    SimOptions(timeline=Timeline()).check()


def test_add_arguments_mounts_on_any_parser() -> None:
    parser = argparse.ArgumentParser()
    from devtools.simulator.cli import add_arguments

    add_arguments(parser)
    ns = parser.parse_args(["--count", "5"])
    assert options_from_args(ns).count == 5


def test_help_explains_options_and_scenarios() -> None:
    text = build_parser().format_help()
    for word in ("--hosts", "--raw-logs", "--speed", "--timeline", "error_spike", "cpu_saturation",
                 "host_silent", "counter_reset", "every=SECONDS", "use_batch_format"):  # fmt: skip
        assert word in text


def test_stderr_progress_writes_text_as_is() -> None:
    out = io.StringIO()
    progress = stderr_progress(out)
    progress("\rstatus")
    progress("\rsummary\n")
    assert out.getvalue() == "\rstatus\rsummary\n"
