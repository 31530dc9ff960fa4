-- A natural person's division is the one in their id number (positions 1–6) — but that is where
-- they were first registered, not where they trade. A seller whose id number is from outside
-- Jiangmen (440700) would be in no officer's scope, even the city's: their profile, reference
-- sheet and findings (REVERSE_INVOICE_LIMIT, INCOME_SPLITTING) visible to nobody. Such a person
-- is placed in the division of the buyer of their earliest sale, by (occurred_at, platform,
-- trade_id) over every trade version received: a minimum, so the result is a function of the data,
-- never of arrival order.
ALTER TABLE parties
  -- Natural persons: the id number's division (what `division` was before placement).
  ADD COLUMN id_division text,
  -- The sale that placed the person: ISO time (UTC, milliseconds), U+001F, platform, U+001F, trade id.
  ADD COLUMN placed_by text;

UPDATE parties SET id_division = division WHERE kind = 'natural_person';

UPDATE parties p SET division = f.buyer_division, placed_by = f.basis
FROM (
  SELECT DISTINCT ON (x.seller_key) x.seller_key, x.buyer_division, x.basis
  FROM (
    SELECT t.seller_key, t.buyer_division,
           to_char(t.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || chr(31) || t.platform || chr(31) || t.trade_id AS basis
    FROM trades t
    WHERE t.seller_kind = 'natural_person'
  ) x
  ORDER BY x.seller_key, x.basis COLLATE "C"
) f
WHERE p.party_key = f.seller_key AND p.kind = 'natural_person' AND p.id_division NOT LIKE '4407%';

UPDATE trades t SET seller_division = p.division FROM parties p
WHERE p.party_key = t.seller_key AND p.placed_by IS NOT NULL AND t.seller_division <> p.division;

UPDATE anomalies a SET division = p.division FROM parties p
WHERE p.party_key = a.party_key AND p.placed_by IS NOT NULL AND a.division <> p.division;
