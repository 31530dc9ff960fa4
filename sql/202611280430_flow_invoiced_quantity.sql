-- The invoiced quantity of each trade, kept whether or not it differs, so that INVOICE_MISMATCH
-- can apply its own (administrator-set) quantity tolerance.
ALTER TABLE trade_flows ADD COLUMN invoiced_g bigint NOT NULL DEFAULT 0;
