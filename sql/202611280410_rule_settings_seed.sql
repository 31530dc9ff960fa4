-- Default parameters of every anomaly rule (DOMAIN.md section 7), version 1, in force from the
-- beginning. Administrators add versions with a later valid_from (cli rules set); findings record
-- the version they were computed with. test/rules/settings.test.ts keeps these equal to the
-- defaults in src/rules/registry.ts.
INSERT INTO rule_settings (rule, version, valid_from, params, note) VALUES
  ('PAYMENT_MISMATCH', 1, '2000-01-01', '{"amount_min_fen":100,"amount_basis_points":50,"grace_days":7}', 'DOMAIN.md section 7 defaults'),
  ('WEIGHT_MISMATCH', 1, '2000-01-01', '{"weight_min_g":20000,"weight_basis_points":100,"high_basis_points":500}', 'DOMAIN.md section 7 defaults'),
  ('INVOICE_MISMATCH', 1, '2000-01-01', '{"amount_min_fen":100,"amount_basis_points":50,"weight_min_g":20000,"weight_basis_points":100}', 'DOMAIN.md section 7 defaults'),
  ('MISSING_FLOW', 1, '2000-01-01', '{"payment_days":7,"weighing_days":7,"invoice_days":30}', 'DOMAIN.md section 7 defaults'),
  ('THIRD_PARTY_PAYEE', 1, '2000-01-01', '{}', 'DOMAIN.md section 7 defaults'),
  ('FUNDS_ROUND_TRIP', 1, '2000-01-01', '{"window_days":30,"min_share_basis_points":5000}', 'DOMAIN.md section 7 defaults'),
  ('SHARED_PAYEE_ACCOUNT', 1, '2000-01-01', '{"min_sellers":3}', 'DOMAIN.md section 7 defaults'),
  ('UNSOURCED_SALE', 1, '2000-01-01', '{"min_kg":500,"min_share_basis_points":200}', 'DOMAIN.md section 7 defaults'),
  ('PASS_THROUGH', 1, '2000-01-01', '{"min_cover_basis_points":9000,"max_hours":24,"quantity_basis_points":100,"max_margin_basis_points":200}', 'DOMAIN.md section 7 defaults'),
  ('CIRCULAR_TRADING', 1, '2000-01-01', '{"window_days":90,"max_parties":6}', 'DOMAIN.md section 7 defaults'),
  ('REVERSE_INVOICE_LIMIT', 1, '2000-01-01', '{"limit_fen":500000000,"medium_basis_points":8000}', 'DOMAIN.md section 7 defaults'),
  ('INCOME_SPLITTING', 1, '2000-01-01', '{"band_low_fen":9500000,"band_high_fen":10000000,"min_months":3,"window_months":6}', 'DOMAIN.md section 7 defaults'),
  ('VEHICLE_OVERLOAD', 1, '2000-01-01', '{"max_gross_kg":49000}', 'DOMAIN.md section 7 defaults'),
  ('IMPOSSIBLE_TRAVEL', 1, '2000-01-01', '{"min_km":10,"max_kmh":120}', 'DOMAIN.md section 7 defaults'),
  ('PRICE_DEVIATION', 1, '2000-01-01', '{"medium_basis_points":3000,"high_basis_points":5000,"min_trades_for_median":20}', 'DOMAIN.md section 7 defaults'),
  ('DUPLICATE_DOCUMENT', 1, '2000-01-01', '{}', 'DOMAIN.md section 7 defaults'),
  ('SHELL_BURST', 1, '2000-01-01', '{"max_age_days":180,"min_sales_fen":500000000}', 'DOMAIN.md section 7 defaults'),
  ('INVOICE_WITHOUT_TRADE', 1, '2000-01-01', '{"grace_days":7}', 'DOMAIN.md section 7 defaults'),
  ('HAZARDOUS_UNLICENSED', 1, '2000-01-01', '{}', 'DOMAIN.md section 7 defaults');
