-- Which worker evaluates a period right now: a claim with an expiry, so that concurrent jobs for
-- the same period skip instead of queueing on a lock (and a killed worker's claim lapses).
CREATE TABLE rule_evaluation_claims (
  period text PRIMARY KEY,
  claimed_until timestamptz NOT NULL
);
