-- The dispatcher claims only the oldest pending outbox row of each group, so a group's messages
-- reach the receiver in order (sinks/notify/outbox.py claim_due). This partial index keeps that
-- check to the few pending rows of a group, however many old rows the group has.
CREATE INDEX notifications_pending_group_idx ON notifications (group_key, id)
    WHERE status = 'pending';
