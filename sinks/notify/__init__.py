"""Notifications: route alert transitions to Slack and email through a Postgres outbox."""
