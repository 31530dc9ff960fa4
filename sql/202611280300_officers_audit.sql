-- Officers, their bearer tokens, and the append-only, hash-chained audit log (CONTRACT.md section 3).

-- A person who reads the query API. Roles: officer (reads within own divisions), supervisor
-- (officer + review anomalies + reports), auditor (reads the audit log), admin (platforms,
-- officers, reference data). `divisions` are 6-digit 行政区划代码; 440700 covers every 4407xx.
CREATE TABLE officers (
  login text PRIMARY KEY CHECK (login ~ '^[a-z][a-z0-9._-]{1,63}$'),
  role text NOT NULL CHECK (role IN ('officer', 'supervisor', 'auditor', 'admin')),
  divisions text[] NOT NULL DEFAULT '{}'
    -- Every element 6 digits, no NULLs (a NULL element becomes '*' and fails the pattern).
    CHECK (array_to_string(divisions, ',', '*') ~ '^([0-9]{6}(,[0-9]{6})*)?$'),
  -- May see natural persons' id numbers and account numbers unmasked (every unmasking is audited).
  pii boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);

-- Opaque bearer tokens (`rt_<43 base64url chars>`). Only a keyed hash is stored:
-- HMAC-SHA256 with a key derived from RETRACE_MASTER_KEY ('token-hash'), so a copy of this table
-- yields no usable token, and nobody without the master key can mint a matching row either.
CREATE TABLE officer_tokens (
  token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  officer text NOT NULL REFERENCES officers (login),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX officer_tokens_active ON officer_tokens (officer) WHERE revoked_at IS NULL;

-- One entry per request by an authenticated officer. Entries are chained:
--   hash = HMAC-SHA256(audit-chain key, prev_hash || canonical JSON of the entry's fields)
-- with prev_hash = the previous entry's hash (32 zero bytes for the first). The key is derived
-- from RETRACE_MASTER_KEY, so someone who can write to the database but does not hold the master
-- key cannot edit, delete or insert an entry and re-chain the rest: `retrace audit verify` finds
-- the first broken entry. Appends are serialised with an advisory lock (see audit.repository.ts).
CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  role text NOT NULL,
  method text NOT NULL,
  -- The route template (`/v1/trades/:id`), or 'unmatched' when no route matched.
  endpoint text NOT NULL,
  path text NOT NULL,
  query jsonb NOT NULL DEFAULT '{}',
  status integer NOT NULL,
  -- Party keys (USCC or person key) and trade ids that the response disclosed.
  parties jsonb NOT NULL DEFAULT '[]',
  trades jsonb NOT NULL DEFAULT '[]',
  pii_unmasked boolean NOT NULL DEFAULT false,
  request_id text,
  prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash bytea NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only at the database level too: no UPDATE, DELETE or TRUNCATE through any role that
-- does not first disable this trigger (which needs table ownership and shows in the server log).
-- Statement-level, so even a statement that would touch no row is refused.
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
