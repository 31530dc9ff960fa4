-- Ingestion: platforms, their signing secrets, accepted events, bulk batches and the quarantine.
--
-- Distribution: every table below is keyed by `platform` first, so that Citus (or any
-- hash-partitioned PostgreSQL) can distribute them on that column and keep a platform's rows
-- together.

CREATE TABLE platforms (
  code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_-]{1,31}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  -- Requests per second accepted from this platform (across all API processes).
  rate_limit_per_second integer NOT NULL DEFAULT 1000 CHECK (rate_limit_per_second > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);

-- Signing secrets, encrypted with a key derived from RETRACE_MASTER_KEY. Several may be active at
-- once (rotation): a request is authentic when any active secret verifies it.
CREATE TABLE platform_secrets (
  platform text NOT NULL REFERENCES platforms (code),
  secret_no integer NOT NULL,
  secret_enc bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  PRIMARY KEY (platform, secret_no)
);

-- A bulk upload: the raw body and the headers that prove its signature.
CREATE TABLE ingest_batches (
  platform text NOT NULL REFERENCES platforms (code),
  batch_id text NOT NULL,
  received_at timestamptz NOT NULL,
  body_sha256 bytea NOT NULL,
  raw_body bytea NOT NULL,
  signature jsonb NOT NULL,
  line_count integer NOT NULL,
  accepted integer NOT NULL,
  duplicates integer NOT NULL,
  rejected integer NOT NULL,
  PRIMARY KEY (platform, batch_id, received_at)
);

-- Every accepted event, as received. PostgreSQL is the source of truth: the queue only carries
-- pointers to these rows, and a sweep re-enqueues whatever is still pending.
CREATE TABLE inbound_events (
  platform text NOT NULL REFERENCES platforms (code),
  event_id text NOT NULL,
  event_type text NOT NULL,
  event_ts timestamptz NOT NULL,
  record_kind text NOT NULL,
  record_key text NOT NULL,
  -- NULL for master data (party.registered), where the latest event timestamp wins.
  record_version integer,
  -- SHA-256 of the canonical JSON of {type, data}: equal content means a replay.
  content_sha256 bytea NOT NULL,
  -- The exact bytes received: the request body, or the NDJSON line of a batch.
  raw_body text NOT NULL,
  -- Single events: the webhook headers. Batch lines: NULL, the batch row holds them.
  signature jsonb,
  batch_id text,
  batch_line integer,
  received_at timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'processed', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  processed_at timestamptz,
  PRIMARY KEY (platform, event_id)
);

-- One stored content per (record key, version): a different content is a 409.
CREATE UNIQUE INDEX inbound_events_record_version
  ON inbound_events (platform, record_kind, record_key, record_version)
  WHERE record_version IS NOT NULL;

CREATE INDEX inbound_events_pending ON inbound_events (received_at) WHERE state = 'pending';
CREATE INDEX inbound_events_record ON inbound_events (platform, record_kind, record_key);

-- Authenticated events that were rejected (400 or 409), kept with their errors until replayed.
CREATE TABLE quarantined_events (
  platform text NOT NULL REFERENCES platforms (code),
  id bigint GENERATED ALWAYS AS IDENTITY,
  event_id text,
  batch_id text,
  batch_line integer,
  received_at timestamptz NOT NULL,
  status integer NOT NULL CHECK (status IN (400, 409)),
  errors jsonb NOT NULL,
  raw_body bytea NOT NULL,
  content_sha256 bytea NOT NULL,
  signature jsonb,
  replayed_at timestamptz,
  replay_outcome text,
  PRIMARY KEY (platform, id)
);

-- The same rejected delivery retried (same id, same bytes) is kept once.
CREATE UNIQUE INDEX quarantined_events_delivery
  ON quarantined_events (platform, coalesce(event_id, ''), content_sha256);
CREATE INDEX quarantined_events_id ON quarantined_events (id);
