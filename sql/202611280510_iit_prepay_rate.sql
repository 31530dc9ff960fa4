-- The individual income tax a recycler prepays for a natural person it reverse-invoices for
-- (税务总局公告2024年第5号: 0.5% of the sales excl. VAT), kept as data with its effective
-- period like the VAT rates, so that a change of the rate is a new row, not a release.
INSERT INTO tax_treatments (code, valid_from, valid_to, levy_rate, monthly_exemption_fen, description) VALUES
  ('iit_reverse_invoice', '2024-04-29', NULL, 0.005, NULL,
   'individual income tax prepaid on reverse-invoiced sales of natural persons (税务总局公告2024年第5号), 0.5% of sales excl. VAT');
