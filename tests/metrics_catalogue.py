"""Every metric family a worker documents at /metrics (docs/OPERATING.md), for the tests.

Names are as the Prometheus text parser reports them (counters without ``_total``). ``always``:
present from the worker's start (its label values are known then); otherwise the family appears
with its first event (a host over the series cap, a sink that wrote). ``old``: the family existed
before the Prometheus work (issue 20) and must keep its name, type and labels.
"""

from __future__ import annotations

from typing import NamedTuple


class Family(NamedTuple):
    """One documented family: its type, label names and when it is present."""

    type: str
    labels: frozenset[str]
    always: bool
    old: bool


def _f(type_: str, labels: str = "", *, always: bool = True, old: bool = False) -> Family:
    return Family(type_, frozenset(labels.split()), always, old)


WORKER = {
    # ingest and window state
    "lookout_records_in": _f("counter", "topic", old=True),
    "lookout_rekeyed": _f("counter", "topic", old=True),
    "lookout_pattern_assignment_records": _f("counter"),
    "lookout_delivery_held": _f("counter", "topic", old=True),
    "lookout_delivery_holes": _f("counter", "topic", old=True),
    "lookout_delivery_seeks": _f("counter", "topic", old=True),
    "lookout_processing_time_fallback": _f("counter", "topic", old=True),
    "lookout_missing_host": _f("counter", "topic", old=True),
    "lookout_deadletter": _f("counter", "reason topic", old=True),
    "lookout_late_records": _f("counter", "host", always=False, old=True),
    "lookout_windows_closed": _f("counter", old=True),
    "lookout_window_finals": _f("counter", "kind"),
    "lookout_alert_records": _f("counter", "kind", old=True),
    "lookout_alert_evaluations": _f("counter", "rule"),
    "lookout_alert_transitions": _f("counter", "rule to"),
    "lookout_state_hosts": _f("gauge", old=True),
    "lookout_state_panes": _f("gauge", old=True),
    "lookout_series_overflow": _f("gauge", "host", always=False, old=True),
    "lookout_records_without_time": _f("gauge", "host", always=False, old=True),
    "lookout_input_lag": _f("gauge", "topic partition"),
    "lookout_input_lag_updated_seconds": _f("gauge"),
    "lookout_input_held_records": _f("gauge"),
    "lookout_input_align_timeouts": _f("counter"),
    "lookout_event_time_delay_seconds": _f("gauge"),
    "lookout_recovery_active": _f("gauge"),
    "lookout_recovery_remaining_records": _f("gauge"),
    "lookout_batch_messages": _f("histogram"),
    "lookout_batch_seconds": _f("histogram"),
    "lookout_batch_event_delay_seconds": _f("histogram"),
    # HTTP API
    "lookout_ingest_records": _f("counter", "kind", always=False, old=True),
    "lookout_ingest_rejected": _f("counter", "reason", always=False, old=True),
    "lookout_api_unauthorized": _f("counter", always=False, old=True),
    "lookout_web_fanout_errors": _f("counter", always=False, old=True),
    # sinks (LOOKOUT_SINKS)
    "lookout_sink_messages": _f("counter", "sink", old=True),
    "lookout_sink_batches": _f("counter", "sink", old=True),
    "lookout_sink_retries": _f("counter", "sink", old=True),
    "lookout_sink_failures": _f("counter", "sink kind", old=True),
    "lookout_sink_deadletter": _f("counter", "sink", old=True),
    "lookout_sink_skipped": _f("counter", "sink", old=True),
    "lookout_sink_rewinds": _f("counter", "sink", old=True),
    "lookout_sink_commit_skipped": _f("counter", "sink", old=True),
    "lookout_sink_rows_written": _f("counter", "sink table", always=False, old=True),
    "lookout_sink_lag": _f("gauge", "sink", always=False, old=True),
    "lookout_sink_up": _f("gauge", "sink", always=False, old=True),
    "lookout_sink_last_success_seconds": _f("gauge", "sink", always=False, old=True),
    "lookout_sink_buffered_bytes": _f("gauge", "sink", always=False, old=True),
    "lookout_sink_buffered_messages": _f("gauge", "sink", always=False, old=True),
    "lookout_sink_buffered_bytes_max": _f("gauge", "sink", always=False, old=True),
    "lookout_sink_write_seconds": _f("histogram", "sink"),
    "lookout_sink_pattern_wait_seconds": _f("histogram", "sink"),
    "lookout_sink_pattern_unresolved": _f("counter", "sink"),
    "lookout_sink_pattern_bad_records": _f("counter", "sink"),
    "lookout_retention_deleted": _f("counter", "table", always=False, old=True),
    # notifications (a notify config)
    "lookout_notify_decisions": _f("counter", "stage decision reason", always=False, old=True),
    "lookout_notify_outbox_rows": _f("counter", "status", always=False, old=True),
    "lookout_notify_flush_failures": _f("counter", always=False, old=True),
    "lookout_notify_flush_seconds": _f("gauge", always=False, old=True),
    "lookout_notifications": _f("counter", "receiver outcome", old=True),
    "lookout_notify_outbox_errors": _f("counter", old=True),
    "lookout_notify_up": _f("gauge", always=False, old=True),
    "lookout_notify_unrecorded": _f("gauge", always=False, old=True),
    "lookout_notify_delivery_seconds": _f("histogram", "receiver"),
    # prometheus-client's standard collectors
    "process_cpu_seconds": _f("counter"),
    "process_resident_memory_bytes": _f("gauge"),
    "process_virtual_memory_bytes": _f("gauge"),
    "process_open_fds": _f("gauge"),
    "process_max_fds": _f("gauge"),
    "process_start_time_seconds": _f("gauge"),
    "python_info": _f("gauge", "implementation major minor patchlevel version"),
    "python_gc_objects_collected": _f("counter", "generation"),
    "python_gc_objects_uncollectable": _f("counter", "generation"),
    "python_gc_collections": _f("counter", "generation"),
}

# Families that exist only where a part runs: sinks (LOOKOUT_SINKS) and notifications.
SINK_FAMILIES = {n for n in WORKER if n.startswith(("lookout_sink_", "lookout_retention_"))}
NOTIFY_FAMILIES = {n for n in WORKER if n.startswith(("lookout_notif",))}
