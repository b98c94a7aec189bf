-- 0006_identity: users who sign in, their roles per tenant, ingest keys per tenant, refresh
-- tokens, hosts learnt from ingest keys, and the audit columns (docs/AUTH.md).
--
-- A tenant is a team (team_management.name is the `tenant` label). Passwords are argon2id
-- hashes (argon2-cffi); ingest keys and refresh tokens are random secrets stored as SHA-256
-- digests (a digest of 256 random bits needs no slow hash); the secret is shown once.

ALTER TABLE users ADD COLUMN password_hash text;
ALTER TABLE users ADD COLUMN is_server_admin boolean NOT NULL DEFAULT false;
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ALTER COLUMN role SET DEFAULT 'viewer';
COMMENT ON COLUMN users.password_hash IS 'argon2id hash; NULL: the user cannot sign in.';
COMMENT ON COLUMN users.role IS 'Seed 000''s global role (BI only); access uses tenant_roles.';

CREATE TABLE tenant_roles (
    user_id    integer NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    tenant     text    NOT NULL REFERENCES team_management (name) ON UPDATE CASCADE ON DELETE CASCADE,
    role       text    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, tenant)
);
COMMENT ON TABLE tenant_roles IS 'A user''s role in a tenant (team): viewer < operator < admin.';

CREATE TABLE ingest_keys (
    key_id     text PRIMARY KEY,
    tenant     text NOT NULL REFERENCES team_management (name) ON UPDATE CASCADE ON DELETE CASCADE,
    key_hash   bytea NOT NULL,
    name       text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
COMMENT ON TABLE ingest_keys IS 'Ingest API keys of a tenant (lk_<key_id>_<secret>; SHA-256 of the whole key).';
CREATE INDEX ingest_keys_tenant_idx ON ingest_keys (tenant);

CREATE TABLE refresh_tokens (
    token_id   text PRIMARY KEY,
    user_id    integer NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    token_hash bytea NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
COMMENT ON TABLE refresh_tokens IS 'Refresh tokens (rotated on use, revoked on logout).';
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE host_tenants (
    host        text PRIMARY KEY,
    tenant      text NOT NULL REFERENCES team_management (name) ON UPDATE CASCADE ON DELETE CASCADE,
    source      text NOT NULL DEFAULT 'key' CHECK (source IN ('key', 'manual')),
    assigned_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE host_tenants IS
    'Hosts assigned to a tenant by the first ingest key that wrote them (team_server_assignment wins).';

ALTER TABLE user_access_logs ADD COLUMN tenant text;
CREATE INDEX user_access_logs_failures_idx
    ON user_access_logs (action, accessed_at) WHERE NOT success;

-- The tenant of each assigned host: the primary team of the inventory wins over a key's claim.
-- Unassigned hosts are in the default tenant (LOOKOUT_DEFAULT_TENANT; Grafana shows 'default').
CREATE VIEW v_host_tenant AS
SELECT a.host, t.name AS tenant
FROM team_server_assignment a JOIN team_management t USING (team_id)
WHERE a.role = 'primary'
UNION ALL
SELECT h.host, h.tenant FROM host_tenants h
WHERE NOT EXISTS (
    SELECT 1 FROM team_server_assignment a WHERE a.host = h.host AND a.role = 'primary'
);
COMMENT ON VIEW v_host_tenant IS 'host -> tenant of every assigned host (docs/AUTH.md).';
