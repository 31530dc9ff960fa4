-- Groups of undeclared documents to match again once processing has settled.
--
-- An undeclared payment (invoice) is matched, with the rest of its group, against the trades its
-- transaction can see, and a new trade's transaction re-matches only the groups whose undeclared
-- documents it can see: a document and its trade processed at the same moment, in two
-- transactions, can each miss the other. Every re-match marks its group here (in the same
-- transaction); the workers' sweep matches each marked group once more when the mark is older
-- than any transaction still running, and removes the mark. `group_key` is the matching lock's
-- key (src/processing/matching.ts); `payer_key`/`payer_name` (payments) or `seller_key`/
-- `buyer_key` (invoices) rebuild the group.
CREATE TABLE match_rechecks (
  platform text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('payment', 'invoice')),
  group_key text NOT NULL,
  payer_key text,
  payer_name text,
  seller_key text,
  buyer_key text,
  marked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, kind, group_key)
);
CREATE INDEX match_rechecks_marked_at ON match_rechecks (marked_at);
