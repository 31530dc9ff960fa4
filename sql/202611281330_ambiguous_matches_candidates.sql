-- A trade's detail lists the undeclared documents whose tolerant matching found it among equally
-- good candidates (recorded, never guessed): found by the candidates array.
CREATE INDEX ambiguous_matches_candidates ON ambiguous_matches USING gin (candidate_trade_ids);
