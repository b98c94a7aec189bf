"""The /metrics exposition: prometheus-client renders every family, old ones unchanged."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from app.stats import Histogram, Stats
from tests.metrics_catalogue import WORKER


def parse(text: str) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    """Family name -> (type, samples) as Prometheus's text parser reads it."""
    return {
        f.name: (f.type, [(s.name, dict(s.labels), s.value) for s in f.samples])
        for f in text_string_to_metric_families(text)
    }


def fill_old(stats: Stats) -> None:
    """One update of every family that existed before the switch, as the code writes them."""
    for name, fam in WORKER.items():
        if not fam.old:
            continue
        labels = {label: "x" for label in fam.labels}
        if fam.type == "counter":
            stats.inc(name + "_total", 2.0, **labels)
        else:
            stats.set(name, 3.0, **labels)


def test_every_old_family_keeps_its_name_type_and_labels() -> None:
    stats = Stats()
    fill_old(stats)
    families = parse(stats.render())
    for name, fam in WORKER.items():
        if not fam.old:
            continue
        assert name in families, name
        typ, samples = families[name]
        assert typ == fam.type, name
        sample_name = name + "_total" if typ == "counter" else name
        assert samples == [(sample_name, {label: "x" for label in fam.labels}, samples[0][2])]
        assert samples[0][2] == (2.0 if typ == "counter" else 3.0)
    # the exposition keeps the exact sample lines dashboards and tests grep for
    text = stats.render()
    assert 'lookout_sink_up{sink="x"} 3.0' in text
    assert "# TYPE lookout_records_in_total counter" in text


def test_process_and_python_collectors_are_exposed() -> None:
    families = parse(Stats().render())
    for name in ("process_resident_memory_bytes", "process_cpu_seconds", "process_open_fds"):
        assert name in families, name
    assert families["python_info"][0] == "gauge"
    assert families["python_gc_collections"][0] == "counter"


def test_declared_counters_are_zero_and_keep_values() -> None:
    stats = Stats()
    stats.inc("lookout_rekeyed_total", 5, topic="a")
    stats.declare("lookout_rekeyed_total", "forwarded", [{"topic": "a"}, {"topic": "b"}])
    _, samples = parse(stats.render())["lookout_rekeyed"]
    assert sorted((s[1]["topic"], s[2]) for s in samples) == [("a", 5.0), ("b", 0.0)]
    assert "# HELP lookout_rekeyed_total forwarded" in stats.render()
    stats.declare("lookout_sink_retries_total", "", [{"sink": "pg"}])  # no text: a default one
    assert "# HELP lookout_sink_retries_total lookout sink retries total" in stats.render()


def test_histogram_buckets_are_cumulative_with_inf_count_and_sum() -> None:
    stats = Stats()
    stats.histogram("lookout_batch_seconds", (0.1, 1.0), "batch time", [{}])
    for value in (0.05, 0.1, 0.5, 7.0):
        stats.observe("lookout_batch_seconds", value)
    typ, samples = parse(stats.render())["lookout_batch_seconds"]
    assert typ == "histogram"
    got = {(s[0], s[1].get("le")): s[2] for s in samples}
    assert got[("lookout_batch_seconds_bucket", "0.1")] == 2  # le is inclusive
    assert got[("lookout_batch_seconds_bucket", "1.0")] == 3
    assert got[("lookout_batch_seconds_bucket", "+Inf")] == 4
    assert got[("lookout_batch_seconds_count", None)] == 4
    assert got[("lookout_batch_seconds_sum", None)] == 7.65


def test_declared_histogram_label_sets_are_present_before_any_observation() -> None:
    stats = Stats()
    stats.histogram("lookout_sink_write_seconds", (1.0,), "w", [{"sink": "postgres"}])
    _, samples = parse(stats.render())["lookout_sink_write_seconds"]
    assert {s[1]["sink"] for s in samples} == {"postgres"}
    assert all(s[2] == 0 for s in samples)


def test_histogram_observe_costs_no_lock_and_is_exact_at_bounds() -> None:
    hist = Histogram((1.0, 2.0))
    for value in (1.0, 2.0, 2.0000001):
        hist.observe(value)
    assert hist.cumulative() == [(1.0, 1), (2.0, 2), (float("inf"), 3)]
