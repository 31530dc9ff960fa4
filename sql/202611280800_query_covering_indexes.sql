-- Covering indexes for the officers' query API (issue 4 latency targets). Each replaces or adds an
-- index so that the hot reads are index-only scans (no heap page per row):
--
-- Chain traversal (src/repositories/chains.repository.ts, walkAllocations): both walks read, per
-- trade, its allocations into it (upstream) or out of it (downstream) with the other end, basis and
-- grams, and the row's stream (party, material: what tells two allocation rows apart). The key
-- columns are those of allocations_sale / allocations_purchase, so every query that used them can
-- use these.
CREATE INDEX allocations_sale_cover ON allocations (sale_platform, sale_trade_id)
  INCLUDE (purchase_platform, purchase_trade_id, basis, quantity_g, party_key, material);
DROP INDEX allocations_sale;
CREATE INDEX allocations_purchase_cover ON allocations (purchase_platform, purchase_trade_id)
  INCLUDE (sale_platform, sale_trade_id, basis, quantity_g, party_key, material);
DROP INDEX allocations_purchase;

-- The unsourced grams of a chain's trades (loadChainTrades): same key as sale_results_trade.
CREATE INDEX sale_results_trade_cover ON sale_results (platform, trade_id) INCLUDE (unsourced_g);
DROP INDEX sale_results_trade;

-- The reference sheet's stock sums (parties-query.repository.ts, streamSums): a party's purchases
-- (or sales) up to the end of the period, summed per material, without reading the rows.
CREATE INDEX stream_entries_party_role_time ON stream_entries (party_key, role, occurred_at)
  INCLUDE (material, quantity_g);
