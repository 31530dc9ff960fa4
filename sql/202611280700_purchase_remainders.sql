-- Allocation's running state: per purchase of a (party, material) stream, the grams that no stored
-- allocation has taken (quantity − Σ allocations from it). Written only by allocation, under the
-- stream's advisory lock (src/processing/allocate.ts). With it, re-allocating a stream from a cut
-- reads the purchases before the cut that still hold stock (or that the re-allocated sales drew
-- on or claim) instead of the whole stream and the sum of all its allocations.
-- Invariant: for every purchase strictly before the stream's dirty point (all of them when the
-- stream is clean) there is a row, equal to the entry's time and quantity.
CREATE TABLE purchase_remainders (
  party_key text NOT NULL,
  material text NOT NULL,
  platform text NOT NULL,
  trade_id text NOT NULL,
  occurred_at timestamptz NOT NULL,
  quantity_g bigint NOT NULL,
  remaining_g bigint NOT NULL,
  PRIMARY KEY (party_key, material, platform, trade_id)
);
-- Purchases with stock left, in time order: the FIFO candidates at a cut.
CREATE INDEX purchase_remainders_open ON purchase_remainders (party_key, material, occurred_at)
  WHERE remaining_g > 0;
CREATE INDEX purchase_remainders_time ON purchase_remainders (party_key, material, occurred_at);

-- Entries of a stream from a point in time on (the part a re-allocation reads).
CREATE INDEX stream_entries_time ON stream_entries (party_key, material, occurred_at);

-- Streams allocated before this migration: their remainders from the stored allocations.
INSERT INTO purchase_remainders (party_key, material, platform, trade_id, occurred_at, quantity_g, remaining_g)
SELECT e.party_key, e.material, e.platform, e.trade_id, e.occurred_at, e.quantity_g,
       e.quantity_g - COALESCE(a.g, 0)
FROM stream_entries e
LEFT JOIN (
  SELECT party_key, material, purchase_platform, purchase_trade_id, sum(quantity_g)::bigint AS g
  FROM allocations GROUP BY 1, 2, 3, 4
) a ON a.party_key = e.party_key AND a.material = e.material
   AND a.purchase_platform = e.platform AND a.purchase_trade_id = e.trade_id
WHERE e.role = 'purchase';
