-- Undeclared payments and invoices (those naming no trade) are the only ones matching looks for,
-- and they are rare (2 of 22,810 payments in a bench data set). Every processed batch asks which
-- of its trades' payers and seller-buyer pairs hold any: through payments_payer and
-- invoices_parties that read every declared document of a busy station (~160 per buyer) to find
-- none. These partial indexes hold only the undeclared documents, so the question costs an
-- index probe, and the indexes cost nothing for the declared documents most records are.
CREATE INDEX payments_undeclared_payer ON payments (platform, payer_key)
  WHERE declared_trade_ids = '{}';
CREATE INDEX payments_undeclared_payer_name ON payments (platform, payer_name)
  WHERE declared_trade_ids = '{}' AND payer_key IS NULL;
CREATE INDEX invoices_undeclared_parties ON invoices (platform, seller_key, buyer_key)
  WHERE declared_trade_ids = '{}' AND kind <> 'red';
