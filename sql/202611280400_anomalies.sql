-- The anomaly rule engine (DOMAIN.md section 7): versioned settings with effective periods, the
-- findings with their review state, and the periods waiting for (re-)evaluation.

-- Thresholds and tolerances are data: each row holds a rule's parameters from `valid_from` (an
-- Asia/Shanghai calendar date) on. A finding records the version and the parameters it used.
CREATE TABLE rule_settings (
  rule text NOT NULL,
  version integer NOT NULL,
  valid_from date NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  params jsonb NOT NULL,
  note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rule, version)
);
CREATE UNIQUE INDEX rule_settings_rule_from ON rule_settings (rule, valid_from);

-- One finding per (rule, dedupe key): a re-run on the same facts updates it in place.
CREATE TABLE anomalies (
  id bigint GENERATED ALWAYS AS IDENTITY,
  rule text NOT NULL,
  dedupe_key text NOT NULL,
  rule_version integer NOT NULL,
  severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  party_key text NOT NULL,
  division text NOT NULL,
  period text NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
  -- [{ id, platform, trade_id }]: every trade that supports the finding.
  trades jsonb NOT NULL DEFAULT '[]',
  -- [{ kind: payment|weighing|invoice, number }] where documents are the subject.
  documents jsonb NOT NULL DEFAULT '[]',
  summary_zh text NOT NULL,
  summary_en text NOT NULL,
  evidence jsonb NOT NULL,
  -- open → confirmed | dismissed (review); closed when the facts no longer support it.
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed', 'closed')),
  closed_reason text,
  reviewed_by text,
  review_note text,
  reviewed_at timestamptz,
  first_detected_at timestamptz NOT NULL DEFAULT now(),
  last_detected_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Hash of what the finding says (severity, trades, evidence…): an unchanged re-run writes nothing.
  fingerprint text NOT NULL,
  PRIMARY KEY (party_key, id)
);
CREATE UNIQUE INDEX anomalies_id ON anomalies (id);
CREATE UNIQUE INDEX anomalies_dedupe ON anomalies (party_key, rule, dedupe_key);
CREATE INDEX anomalies_period ON anomalies (period, rule);
CREATE INDEX anomalies_division ON anomalies (division, period);
CREATE INDEX anomalies_trades ON anomalies USING gin (trades jsonb_path_ops);

-- Every change of a finding's state: detections, closings, reopenings and reviews.
CREATE TABLE anomaly_events (
  anomaly_id bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL CHECK (kind IN ('detected', 'updated', 'closed', 'reopened', 'confirmed', 'dismissed')),
  actor text NOT NULL,
  note text,
  details jsonb
);
CREATE INDEX anomaly_events_anomaly ON anomaly_events (anomaly_id, at);

-- Periods (Asia/Shanghai months) whose findings must be evaluated again.
CREATE TABLE rule_dirty_periods (
  period text PRIMARY KEY,
  generation bigint NOT NULL DEFAULT 1,
  marked_at timestamptz NOT NULL DEFAULT now()
);
