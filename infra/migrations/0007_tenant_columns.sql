-- 0007_tenant_columns: the tenant of every window, raw and log row, and of alerts and incidents
-- (docs/AUTH.md). The sinks write it: window rows take the tenant of their final record, raw
-- rows the host's tenant from the same host->tenant map the workers use (v_host_tenant, else
-- the default tenant); alert_history and incidents derive it from their labels.
--
-- Rows written before this migration: those of hosts assigned now (v_host_tenant) take that
-- tenant; the others read 'default' (the column's default, which is also what keeps a sink of
-- the previous version writing during a rolling update). Adding a column with a constant
-- default rewrites nothing and the UPDATEs touch only the rows of assigned hosts; the generated
-- columns rewrite alert_history and incidents once.

ALTER TABLE aggregated_metrics ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE error_rates ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE server_metrics ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE error_logs ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE application_logs ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE downtime_logs ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE alert_history ADD COLUMN tenant text GENERATED ALWAYS AS (labels ->> 'tenant') STORED;
ALTER TABLE incidents ADD COLUMN tenant text GENERATED ALWAYS AS (labels ->> 'tenant') STORED;

COMMENT ON COLUMN aggregated_metrics.tenant IS 'Tenant of the series (its final window record).';
COMMENT ON COLUMN error_rates.tenant IS 'Tenant of the series (its final window record).';
COMMENT ON COLUMN server_metrics.tenant IS 'Tenant of the host when the sink stored the point.';
COMMENT ON COLUMN error_logs.tenant IS 'Tenant of the host when the sink stored the entry.';
COMMENT ON COLUMN application_logs.tenant IS 'Tenant of the host when the sink stored the record.';
COMMENT ON COLUMN downtime_logs.tenant IS 'Tenant of the host (the alert''s tenant label).';
COMMENT ON COLUMN alert_history.tenant IS 'The alert''s tenant label (NULL before tenants).';
COMMENT ON COLUMN incidents.tenant IS 'The alert''s tenant label (NULL before tenants).';

UPDATE aggregated_metrics AS m SET tenant = v.tenant FROM v_host_tenant AS v WHERE v.host = m.host;
UPDATE error_rates AS m SET tenant = v.tenant FROM v_host_tenant AS v WHERE v.host = m.host;
UPDATE server_metrics AS m SET tenant = v.tenant FROM v_host_tenant AS v WHERE v.host = m.host;
UPDATE error_logs AS m SET tenant = v.tenant FROM v_host_tenant AS v WHERE v.host = m.host;
UPDATE application_logs AS m SET tenant = v.tenant FROM v_host_tenant AS v WHERE v.host = m.host;
UPDATE downtime_logs AS m SET tenant = v.tenant FROM v_host_tenant AS v WHERE v.host = m.host;

-- Dashboards and BI narrow by tenant and time (and window kind). server_metrics gets no tenant
-- index: it is the hottest table for writes, and its readers go by host (its series index).
CREATE INDEX aggregated_metrics_tenant_idx
    ON aggregated_metrics (tenant, window_kind, window_start);
CREATE INDEX error_rates_tenant_idx ON error_rates (tenant, window_kind, window_start);
CREATE INDEX error_logs_tenant_time_idx ON error_logs (tenant, time);
CREATE INDEX application_logs_tenant_time_idx ON application_logs (tenant, time);
CREATE INDEX downtime_logs_tenant_idx ON downtime_logs (tenant, down_at);
CREATE INDEX alert_history_tenant_time_idx ON alert_history (tenant, event_time);
CREATE INDEX incidents_tenant_idx ON incidents (tenant, opened_at);
