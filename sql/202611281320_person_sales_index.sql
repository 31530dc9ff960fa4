-- A station's reference sheet tests each natural person's reverse-invoicing VAT exemption on the
-- person's sales of the month to every buyer (DOMAIN.md 1): one probe per person it bought from,
-- which this partial covering index answers without reading the table (index-only).
CREATE INDEX trades_person_sales ON trades (seller_key, occurred_at) INCLUDE (buyer_key, total_fen)
  WHERE seller_kind = 'natural_person' AND tax_treatment = 'reverse_invoice' AND status = 'active';
