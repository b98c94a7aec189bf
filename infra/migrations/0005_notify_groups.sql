-- 0005_notify_groups: the notifier's durable grouping state (sinks/notify/store.py).
-- The notifier consumes lookout.alerts as its own consumer group and commits offsets only after
-- these tables hold the effect. Replays change nothing: an alert row keeps the newest transition
-- applied (a replayed or older one is ignored), and each outbox row has an idempotency key.
-- Times are wall-clock (group_wait and friends are operator time), UTC.

-- The latest firing/resolved transition of each alert (fingerprint), with its ack.
CREATE TABLE notify_alerts (
    fingerprint   text        PRIMARY KEY,
    rule          text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('firing', 'resolved')),
    episode       bigint      NOT NULL,
    transition_id text        NOT NULL,
    alert         jsonb       NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE notify_alerts IS
    'Notifier: newest firing/resolved transition per alert (replays of lookout.alerts are ignored).';
-- Inhibition reads the firing alerts; resolved rows are pruned once no group holds them.
CREATE INDEX notify_alerts_firing_idx ON notify_alerts (rule) WHERE state = 'firing';
CREATE INDEX notify_alerts_updated_idx ON notify_alerts (updated_at) WHERE state = 'resolved';

-- Aggregation groups: one per (receiver, group_by values); deleted when their last alert is gone.
CREATE TABLE notify_groups (
    group_key     text        PRIMARY KEY,
    receiver      text        NOT NULL,
    route         text        NOT NULL,
    group_labels  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    started_at    timestamptz NOT NULL,
    next_flush_at timestamptz,
    last_sent_at  timestamptz,
    notified      jsonb       NOT NULL DEFAULT '[]'::jsonb,
    repeat_seq    integer     NOT NULL DEFAULT 0 CHECK (repeat_seq >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE notify_groups IS
    'Notifier: aggregation groups, when each flushes next and what its last message said.';
COMMENT ON COLUMN notify_groups.notified IS
    'fingerprint:state:episode keys of the alerts in the group''s last message.';
CREATE INDEX notify_groups_due_idx ON notify_groups (next_flush_at)
    WHERE next_flush_at IS NOT NULL;

CREATE TABLE notify_group_alerts (
    group_key   text NOT NULL REFERENCES notify_groups (group_key) ON DELETE CASCADE,
    fingerprint text NOT NULL REFERENCES notify_alerts (fingerprint) ON DELETE CASCADE,
    PRIMARY KEY (group_key, fingerprint)
);
COMMENT ON TABLE notify_group_alerts IS 'Notifier: the alerts each group holds.';
CREATE INDEX notify_group_alerts_fingerprint_idx ON notify_group_alerts (fingerprint);
