-- 0001_core: the tables the pipeline writes (raw points, window results, logs, alerting).
--
-- Idempotent writes: every table has a natural key so that a Kafka replay changes nothing.
--   raw rows (server_metrics, error_logs, application_logs): the Kafka source position
--     (src_topic, src_partition, src_offset, item[, field]); `item` is the record's index inside
--     the Kafka message (0 when a message holds one record). Write by COPY into a temp staging
--     table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING.
--   window results: (series_id, window_kind, window_start) and (service, host, window_kind,
--     window_start), upserted.
--   alerting: transition_id, incident_id, idempotency_key, (host, down_at).
-- All times are timestamptz (UTC). Requires PostgreSQL 14 or later (the views use multiranges).

-- ---------------------------------------------------------------- raw metrics (Telegraf points)
CREATE TABLE server_metrics (
    time          timestamptz      NOT NULL,
    host          text             NOT NULL,
    measurement   text             NOT NULL,
    field         text             NOT NULL,
    tags          jsonb            NOT NULL DEFAULT '{}'::jsonb,
    value         double precision NOT NULL,
    src_topic     text             NOT NULL,
    src_partition integer          NOT NULL,
    src_offset    bigint           NOT NULL,
    item          integer          NOT NULL DEFAULT 0,
    CONSTRAINT server_metrics_pkey PRIMARY KEY (src_topic, src_partition, src_offset, item, field)
);
COMMENT ON TABLE server_metrics IS
    'Raw Telegraf points, one row per numeric field; key = Kafka position + metric index + field.';
COMMENT ON COLUMN server_metrics.item IS 'Index of the metric inside its Kafka message (0-based).';
CREATE INDEX server_metrics_series_time_idx ON server_metrics (host, measurement, field, time);
-- Append-mostly by time: a BRIN index serves time-range scans and retention at almost no cost.
CREATE INDEX server_metrics_time_brin ON server_metrics USING brin (time);

-- ---------------------------------------------------------------- closed metric windows
CREATE TABLE aggregated_metrics (
    series_id    text             NOT NULL,
    window_kind  text             NOT NULL CHECK (window_kind IN ('tumbling', 'hopping')),
    window_start timestamptz      NOT NULL,
    window_end   timestamptz      NOT NULL,
    host         text             NOT NULL,
    measurement  text             NOT NULL,
    field        text             NOT NULL,
    tags         jsonb            NOT NULL DEFAULT '{}'::jsonb,
    count        bigint           NOT NULL CHECK (count >= 0),
    sum          double precision,
    min          double precision,
    max          double precision,
    mean         double precision,
    last         double precision,
    p50          double precision,
    p95          double precision,
    p99          double precision,
    rate         double precision,
    increase     double precision,
    closed_at    timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT aggregated_metrics_pkey PRIMARY KEY (series_id, window_kind, window_start),
    CONSTRAINT aggregated_metrics_window_chk CHECK (window_end > window_start)
);
COMMENT ON TABLE aggregated_metrics IS
    'One final record per (series, window kind, window start); rate/increase only for counters.';
COMMENT ON COLUMN aggregated_metrics.rate IS 'Per-second rate for counter fields (resets handled).';
CREATE INDEX aggregated_metrics_host_idx
    ON aggregated_metrics (host, measurement, field, window_kind, window_start);
CREATE INDEX aggregated_metrics_measurement_idx
    ON aggregated_metrics (measurement, field, window_kind, window_start);

-- ---------------------------------------------------------------- closed log windows
CREATE TABLE error_rates (
    service      text             NOT NULL,
    host         text             NOT NULL,
    window_kind  text             NOT NULL CHECK (window_kind IN ('tumbling', 'hopping')),
    window_start timestamptz      NOT NULL,
    window_end   timestamptz      NOT NULL,
    requests     bigint           NOT NULL DEFAULT 0 CHECK (requests >= 0),
    s2xx         bigint           NOT NULL DEFAULT 0,
    s3xx         bigint           NOT NULL DEFAULT 0,
    s4xx         bigint           NOT NULL DEFAULT 0,
    s5xx         bigint           NOT NULL DEFAULT 0,
    error_lines  bigint           NOT NULL DEFAULT 0,
    error_rate   double precision,
    latency_p50  double precision,
    latency_p95  double precision,
    latency_p99  double precision,
    bytes        bigint           NOT NULL DEFAULT 0,
    closed_at    timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT error_rates_pkey PRIMARY KEY (service, host, window_kind, window_start),
    CONSTRAINT error_rates_window_chk CHECK (window_end > window_start)
);
COMMENT ON TABLE error_rates IS 'One final record per (service, host, window); latencies in seconds.';
CREATE INDEX error_rates_start_idx ON error_rates (window_kind, window_start);
CREATE INDEX error_rates_host_idx ON error_rates (host, window_kind, window_start);

-- ---------------------------------------------------------------- classified nginx errors
CREATE TABLE error_logs (
    time          timestamptz NOT NULL,
    host          text        NOT NULL,
    service       text        NOT NULL,
    level         text        NOT NULL,
    category      text        NOT NULL CHECK (category IN (
        'upstream_timeout', 'connection_refused', 'file_not_found', 'permission_denied',
        'client_closed', 'upstream_error', 'ssl', 'limit', 'other')),
    message       text        NOT NULL,
    client        text,
    server        text,
    request       text,
    upstream      text,
    src_topic     text        NOT NULL,
    src_partition integer     NOT NULL,
    src_offset    bigint      NOT NULL,
    item          integer     NOT NULL DEFAULT 0,
    CONSTRAINT error_logs_pkey PRIMARY KEY (src_topic, src_partition, src_offset, item)
);
COMMENT ON TABLE error_logs IS 'Classified nginx error-log entries; key = Kafka position + index.';
CREATE INDEX error_logs_time_idx ON error_logs (time);
CREATE INDEX error_logs_service_time_idx ON error_logs (service, time);
CREATE INDEX error_logs_host_time_idx ON error_logs (host, time);
CREATE INDEX error_logs_category_time_idx ON error_logs (category, time);

-- ---------------------------------------------------------------- application logs
CREATE TABLE application_logs (
    time          timestamptz NOT NULL,
    service       text        NOT NULL,
    host          text        NOT NULL,
    level         text        NOT NULL,
    message       text        NOT NULL,
    extra         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    src_topic     text        NOT NULL,
    src_partition integer     NOT NULL,
    src_offset    bigint      NOT NULL,
    item          integer     NOT NULL DEFAULT 0,
    CONSTRAINT application_logs_pkey PRIMARY KEY (src_topic, src_partition, src_offset, item)
);
COMMENT ON TABLE application_logs IS 'Structured application log records; key = Kafka position + index.';
CREATE INDEX application_logs_time_idx ON application_logs (time);
CREATE INDEX application_logs_service_time_idx ON application_logs (service, time);
CREATE INDEX application_logs_host_time_idx ON application_logs (host, time);
CREATE INDEX application_logs_level_time_idx ON application_logs (level, time);

-- ---------------------------------------------------------------- host downtime (absence rules)
CREATE TABLE downtime_logs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host             text        NOT NULL,
    down_at          timestamptz NOT NULL,
    up_at            timestamptz,
    duration_seconds double precision
        GENERATED ALWAYS AS (extract(epoch FROM (up_at - down_at))) STORED,
    reason           text,
    rule             text,
    CONSTRAINT downtime_logs_host_down_at_key UNIQUE (host, down_at),
    CONSTRAINT downtime_logs_interval_chk CHECK (up_at IS NULL OR up_at >= down_at)
);
COMMENT ON TABLE downtime_logs IS 'Host down intervals; up_at NULL while the host is still down.';
CREATE INDEX downtime_logs_open_idx ON downtime_logs (host) WHERE up_at IS NULL;
CREATE INDEX downtime_logs_down_at_idx ON downtime_logs (down_at);

-- ---------------------------------------------------------------- alert rules (mirror of YAML)
CREATE TABLE alert_configuration (
    rule                    text             PRIMARY KEY,
    kind                    text             NOT NULL,
    expression              text             NOT NULL,
    threshold               double precision,
    for_seconds             double precision NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
    keep_firing_for_seconds double precision NOT NULL DEFAULT 0
        CHECK (keep_firing_for_seconds >= 0),
    recovery_threshold      double precision,
    severity                text             NOT NULL,
    labels                  jsonb            NOT NULL DEFAULT '{}'::jsonb,
    annotations             jsonb            NOT NULL DEFAULT '{}'::jsonb,
    enabled                 boolean          NOT NULL DEFAULT true,
    updated_at              timestamptz      NOT NULL DEFAULT now()
);
COMMENT ON TABLE alert_configuration IS 'Alert rules mirrored from the rules YAML (for BI).';

-- ---------------------------------------------------------------- alert state transitions
CREATE TABLE alert_history (
    transition_id text             PRIMARY KEY,
    fingerprint   text             NOT NULL,
    rule          text             NOT NULL,
    labels        jsonb            NOT NULL DEFAULT '{}'::jsonb,
    from_state    text             NOT NULL,
    to_state      text             NOT NULL,
    value         double precision,
    event_time    timestamptz      NOT NULL,
    emitted_at    timestamptz      NOT NULL DEFAULT now()
);
COMMENT ON TABLE alert_history IS 'One row per alert state transition (lookout.alerts).';
CREATE INDEX alert_history_event_time_idx ON alert_history (event_time);
CREATE INDEX alert_history_rule_time_idx ON alert_history (rule, event_time);
CREATE INDEX alert_history_fingerprint_time_idx ON alert_history (fingerprint, event_time);

-- ---------------------------------------------------------------- incidents
CREATE TABLE incidents (
    incident_id     text        PRIMARY KEY,
    fingerprint     text        NOT NULL,
    rule            text        NOT NULL,
    severity        text        NOT NULL,
    labels          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- Derived from labels for joins to servers/applications; never written by the sinks.
    host            text        GENERATED ALWAYS AS (labels ->> 'host') STORED,
    service         text        GENERATED ALWAYS AS (labels ->> 'service') STORED,
    summary         text,
    opened_at       timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    ack_comment     text,
    resolved_at     timestamptz,
    status          text        NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'acknowledged', 'resolved')),
    CONSTRAINT incidents_ack_chk CHECK (acknowledged_at IS NULL OR acknowledged_at >= opened_at),
    CONSTRAINT incidents_resolve_chk CHECK (resolved_at IS NULL OR resolved_at >= opened_at)
);
COMMENT ON TABLE incidents IS 'Opened when an alert fires, closed when it resolves; acks audited.';
CREATE INDEX incidents_opened_at_idx ON incidents (opened_at);
CREATE INDEX incidents_status_idx ON incidents (status, opened_at);
CREATE INDEX incidents_fingerprint_idx ON incidents (fingerprint, opened_at);
CREATE INDEX incidents_host_idx ON incidents (host, opened_at);

-- ---------------------------------------------------------------- silences
CREATE TABLE silences (
    id         text        PRIMARY KEY,
    matchers   jsonb       NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    created_by text        NOT NULL,
    comment    text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT silences_interval_chk CHECK (ends_at > starts_at)
);
COMMENT ON TABLE silences IS 'Alertmanager-style silences (label matchers over a time range).';
CREATE INDEX silences_ends_at_idx ON silences (ends_at);

-- ---------------------------------------------------------------- notification outbox
CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text        NOT NULL,
    group_key       text        NOT NULL,
    transition_id   text,
    receiver        text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
    reason          text,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz,
    last_error      text,
    payload         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    CONSTRAINT notifications_idempotency_key_key UNIQUE (idempotency_key)
);
COMMENT ON TABLE notifications IS
    'Outbox: one row per (group, transition, receiver); idempotency_key makes a send happen once.';
-- The sender polls due pending rows; the partial index stays small.
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_status_created_idx ON notifications (status, created_at);
CREATE INDEX notifications_group_idx ON notifications (group_key, created_at);
