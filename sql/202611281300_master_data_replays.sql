-- Master data (party.registered) has no record version: the latest event timestamp wins, and a
-- different content is never a 409. A replay of the same content at the same event timestamp
-- under a new webhook-id is still a replay: a duplicate (CONTRACT.md 1.3), not a second record.
-- The same content at another timestamp is a new statement of the master data and is stored.
-- An existing database that already holds such replays keeps them: the index is then created
-- without uniqueness (a warning says so), and later replays are stored as before.
DO $$
BEGIN
  CREATE UNIQUE INDEX inbound_events_master_replay
    ON inbound_events (platform, record_kind, record_key, event_ts, content_sha256)
    WHERE record_version IS NULL;
EXCEPTION WHEN unique_violation THEN
  RAISE WARNING 'inbound_events holds replayed master data: inbound_events_master_replay is not unique';
  CREATE INDEX inbound_events_master_replay
    ON inbound_events (platform, record_kind, record_key, event_ts, content_sha256)
    WHERE record_version IS NULL;
END $$;
