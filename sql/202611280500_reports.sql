-- Compliance reports (CONTRACT.md section 3, issue 6): produced on demand (POST /v1/reports, `cli
-- report`) and on schedule (monthly, after the Asia/Shanghai period closes).
--
-- A report's content is computed once, when it is requested, and frozen in `content`; the files
-- (CSV, XLSX, PDF) are rendered from that snapshot by a job. `data_version` is the SHA-256 of the
-- content, so "the same report" means the same findings, coverage and rule versions — whoever
-- asked and whenever. The unique key makes two workers, two schedulers or a retried request
-- produce one report per (kind, division, period, data version).
CREATE TABLE reports (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('monthly_anomalies')),
  -- 6-digit 行政区划代码; 440700 = all of Jiangmen.
  division text NOT NULL CHECK (division ~ '^[0-9]{6}$'),
  period text NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
  -- queued (content frozen, files pending) → running → done | failed.
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
  -- Who or what asked first: 'officer:<login>', 'schedule', 'cli' or 'demo'.
  requested_by text NOT NULL
    CHECK (requested_by ~ '^(officer:[a-z][a-z0-9._-]{1,63}|schedule|cli|demo)$'),
  requested_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  -- The latest data clock of any platform (latest event time received) when the content was taken;
  -- NULL when no platform had sent anything yet.
  data_clock timestamptz,
  -- The rule settings versions in force for the period: { "PAYMENT_MISMATCH": 1, … }.
  rule_versions jsonb NOT NULL,
  -- Hex SHA-256 of the canonical JSON of `content` (which includes rule_versions).
  data_version text NOT NULL CHECK (data_version ~ '^[0-9a-f]{64}$'),
  content jsonb NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  error text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX reports_version ON reports (kind, division, period, data_version);
-- Listing, newest first, and the scheduler's "is this period's report there yet?".
CREATE INDEX reports_requested ON reports (requested_at DESC, id DESC);
CREATE INDEX reports_period ON reports (kind, period, division);
-- The sweep's "queued but not rendered for a while".
CREATE INDEX reports_pending ON reports (updated_at) WHERE status IN ('queued', 'running');

-- The rendered files. Bytes live in PostgreSQL because API processes are stateless: a file on one
-- machine's disk could not be downloaded through another. (Workers and the CLI also write a copy
-- to ${RETRACE_DATA_DIR}/reports/<id>.<ext> for people at the command line.)
CREATE TABLE report_files (
  report_id bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
  format text NOT NULL CHECK (format IN ('csv', 'xlsx', 'pdf')),
  content_type text NOT NULL,
  file_name text NOT NULL,
  -- Hex SHA-256 and length in bytes of `data`.
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size_bytes integer NOT NULL CHECK (size_bytes >= 0),
  data bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (report_id, format)
);
