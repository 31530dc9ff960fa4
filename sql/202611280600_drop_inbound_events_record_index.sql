-- inbound_events_record (platform, record_kind, record_key) is read by no query: the conflict
-- lookup of a record version uses the unique inbound_events_record_version, and processing reads
-- by (platform, event_id) or the pending index. Every ingested row paid for maintaining it.
DROP INDEX IF EXISTS inbound_events_record;
