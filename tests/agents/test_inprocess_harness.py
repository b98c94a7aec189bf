"""The in-process harness (devtools/bench/inprocess.py): it feeds a workload through the real
worker and reports a cost per record; its instruction-count mode's arithmetic."""

from __future__ import annotations

import pytest

from devtools.bench import inprocess


@pytest.mark.parametrize("workload", ["w1", "w1f", "w3", "w3a"])
def test_a_round_applies_every_record_and_reports_its_cost(workload: str) -> None:
    msgs = inprocess.messages(workload, 1_400)
    assert len(msgs) == 1_400
    assert inprocess.messages(workload, 1_400) == msgs  # fixed event times: the same input
    rounds = inprocess.run(workload, 1_400, 500, 1, {"LOOKOUT_PATTERNS": "false"})
    assert len(rounds) == 1 and rounds[0] > 0


def test_main_prints_the_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert inprocess.main(["--workload", "w3", "--count", "500", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("w3: 500 records, batches of 20,000, core ")
    assert "CPU us per record" in out and "rounds: " in out


def test_icount_subtracts_generation_and_the_smaller_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # instructions: a fixed start-up cost, 7 per generated record, 100 per processed record
    def fake(args: list[str]) -> int:
        n = int(args[args.index("--count") + 1])
        return 1_000 + 7 * n + (0 if "--generate-only" in args else 100 * n)

    monkeypatch.setattr(inprocess, "_instructions", fake)
    assert inprocess.icount("w1f", 300, 1_000, []) == 100
