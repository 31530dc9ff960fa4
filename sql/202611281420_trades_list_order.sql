-- The trade list's order is (occurred_at desc, platform desc, trade_id desc): trades at the same
-- instant are ordered by their natural key (DOMAIN.md 6's tie-break), not by the internal id,
-- which reflects arrival — so two ingestions of the same data list them alike.
DROP INDEX trades_occurred;
CREATE INDEX trades_occurred ON trades (occurred_at DESC, platform DESC, trade_id DESC);
