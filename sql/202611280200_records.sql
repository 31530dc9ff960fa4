-- Normalised records built from accepted events, and the results of reconciliation.

-- Raw event bodies carry id numbers and bank account numbers: from now on they are stored
-- encrypted (AES-256-GCM, key derived from RETRACE_MASTER_KEY), like every other copy of them.
ALTER TABLE inbound_events ALTER COLUMN raw_body TYPE bytea USING convert_to(raw_body, 'UTF8');
--
-- Distribution (Citus-ready): party-centred tables (parties, stream_entries, allocations,
-- sale_results, stream_dirty) are keyed by party_key first; record tables by platform first.

-- Enterprises (key: USCC) and natural persons (key: opaque person key; the id number is only
-- stored encrypted, found by its blind index).
CREATE TABLE parties (
  party_key text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('enterprise', 'natural_person')),
  name text NOT NULL,
  division text NOT NULL,
  id_number_enc bytea,
  id_bidx bytea UNIQUE,
  -- Master data (party.registered); NULL until registered.
  registered boolean NOT NULL DEFAULT false,
  taxpayer_kind text,
  established_on date,
  recycling_filing_no text,
  roles text[] NOT NULL DEFAULT '{}',
  registered_division text,
  -- Latest master-data event wins: (event timestamp, platform, event id) orders them.
  master_ts timestamptz,
  master_platform text,
  master_event_id text,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parties_division ON parties (division);

-- Every received version of a trade (created, amended, cancelled); the highest version is current.
CREATE TABLE trade_versions (
  platform text NOT NULL,
  trade_id text NOT NULL,
  version integer NOT NULL,
  kind text NOT NULL CHECK (kind IN ('created', 'amended', 'cancelled')),
  event_id text NOT NULL,
  event_ts timestamptz NOT NULL,
  -- The validated wire data of the event (parties' id numbers removed: see seller_key/buyer_key).
  data jsonb NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (platform, trade_id, version)
);

-- The current state of each trade (its highest version that carries trade data, plus whether a
-- higher version cancelled it).
CREATE TABLE trades (
  platform text NOT NULL,
  trade_id text NOT NULL,
  id bigint GENERATED ALWAYS AS IDENTITY,
  version integer NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'cancelled')),
  occurred_at timestamptz NOT NULL,
  seller_key text NOT NULL,
  buyer_key text NOT NULL,
  seller_kind text NOT NULL,
  seller_division text NOT NULL,
  buyer_division text NOT NULL,
  site_code text NOT NULL,
  site_division text NOT NULL,
  site_lat numeric(9, 6),
  site_lon numeric(9, 6),
  total_fen bigint NOT NULL,
  quantity_g bigint NOT NULL,
  materials text[] NOT NULL,
  tax_treatment text NOT NULL,
  -- [{ material, quantity_g, unit, unit_price, amount_fen }] as strings/integers.
  lines jsonb NOT NULL,
  upstream jsonb NOT NULL DEFAULT '[]',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, trade_id)
);
CREATE UNIQUE INDEX trades_id ON trades (id);
CREATE INDEX trades_seller ON trades (seller_key, occurred_at DESC);
CREATE INDEX trades_buyer ON trades (buyer_key, occurred_at DESC);
CREATE INDEX trades_occurred ON trades (occurred_at DESC, id DESC);
CREATE INDEX trades_seller_division ON trades (seller_division, occurred_at DESC);
CREATE INDEX trades_buyer_division ON trades (buyer_division, occurred_at DESC);

CREATE TABLE payments (
  platform text NOT NULL,
  payment_id text NOT NULL,
  event_id text NOT NULL,
  paid_at timestamptz NOT NULL,
  amount_fen bigint NOT NULL,
  channel text NOT NULL,
  payer_name text NOT NULL,
  payer_account_enc bytea NOT NULL,
  payer_account_bidx bytea NOT NULL,
  payer_key text,
  payee_name text NOT NULL,
  payee_account_enc bytea NOT NULL,
  payee_account_bidx bytea NOT NULL,
  payee_key text,
  serial_no text,
  declared_trade_ids text[] NOT NULL,
  PRIMARY KEY (platform, payment_id)
);
CREATE INDEX payments_payer ON payments (platform, payer_key, paid_at);
CREATE INDEX payments_payee_account ON payments (payee_account_bidx, paid_at);
CREATE INDEX payments_payer_account ON payments (payer_account_bidx, paid_at);
CREATE INDEX payments_serial ON payments (serial_no) WHERE serial_no IS NOT NULL;

-- Reversals may arrive before the payment they reverse: kept apart, joined when computing.
CREATE TABLE payment_reversals (
  platform text NOT NULL,
  payment_id text NOT NULL,
  event_id text NOT NULL,
  reversed_at timestamptz NOT NULL,
  reason text NOT NULL,
  PRIMARY KEY (platform, payment_id)
);

CREATE TABLE weighings (
  platform text NOT NULL,
  weighing_id text NOT NULL,
  event_id text NOT NULL,
  ticket_no text NOT NULL,
  trade_id text NOT NULL,
  site_code text NOT NULL,
  site_division text NOT NULL,
  site_lat numeric(9, 6),
  site_lon numeric(9, 6),
  vehicle_plate text NOT NULL,
  gross_g bigint NOT NULL,
  tare_g bigint NOT NULL,
  net_g bigint NOT NULL,
  weighed_at timestamptz NOT NULL,
  PRIMARY KEY (platform, weighing_id)
);
CREATE INDEX weighings_trade ON weighings (platform, trade_id);
CREATE INDEX weighings_ticket ON weighings (site_code, ticket_no);
CREATE INDEX weighings_vehicle ON weighings (vehicle_plate, weighed_at);

-- Blue invoices and red-letter (红字) reversals; a red one names its original.
CREATE TABLE invoices (
  platform text NOT NULL,
  invoice_no text NOT NULL,
  event_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('special', 'ordinary', 'reverse', 'red')),
  issued_at timestamptz NOT NULL,
  seller_key text,
  buyer_key text,
  original_invoice_no text,
  declared_trade_ids text[] NOT NULL DEFAULT '{}',
  total_ex_tax_fen bigint NOT NULL,
  total_tax_fen bigint NOT NULL,
  total_fen bigint NOT NULL,
  -- [{ material, quantity_g, amount_ex_tax_fen, tax_rate, tax_fen }]
  lines jsonb NOT NULL DEFAULT '[]',
  materials text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (platform, invoice_no)
);
CREATE INDEX invoices_parties ON invoices (platform, seller_key, buyer_key, issued_at);
CREATE INDEX invoices_original ON invoices (platform, original_invoice_no) WHERE original_invoice_no IS NOT NULL;
CREATE INDEX invoices_number ON invoices (invoice_no);

-- Links between documents and trades: declared by the platform, or found by tolerant matching.
CREATE TABLE payment_links (
  platform text NOT NULL,
  payment_id text NOT NULL,
  trade_id text NOT NULL,
  basis text NOT NULL CHECK (basis IN ('declared', 'matched')),
  PRIMARY KEY (platform, payment_id, trade_id)
);
CREATE INDEX payment_links_trade ON payment_links (platform, trade_id);

CREATE TABLE invoice_links (
  platform text NOT NULL,
  invoice_no text NOT NULL,
  trade_id text NOT NULL,
  basis text NOT NULL CHECK (basis IN ('declared', 'matched')),
  PRIMARY KEY (platform, invoice_no, trade_id)
);
CREATE INDEX invoice_links_trade ON invoice_links (platform, trade_id);

-- Undeclared documents whose candidates tied: recorded, never guessed.
CREATE TABLE ambiguous_matches (
  platform text NOT NULL,
  document_kind text NOT NULL CHECK (document_kind IN ('payment', 'invoice')),
  document_no text NOT NULL,
  candidate_trade_ids text[] NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, document_kind, document_no)
);

-- Per trade and flow: matched | partial | missing | mismatch, the overall status and differences.
CREATE TABLE trade_flows (
  platform text NOT NULL,
  trade_id text NOT NULL,
  payment_status text NOT NULL,
  weighing_status text NOT NULL,
  invoice_status text NOT NULL,
  overall text NOT NULL CHECK (overall IN ('reconciled', 'pending', 'discrepant')),
  paid_fen bigint NOT NULL,
  weighed_g bigint NOT NULL,
  invoiced_fen bigint NOT NULL,
  differences jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (platform, trade_id)
);
CREATE INDEX trade_flows_overall ON trade_flows (overall);

-- The allocation input: each active trade as a purchase of its buyer and a sale of its seller,
-- per material (lines of one material summed).
CREATE TABLE stream_entries (
  party_key text NOT NULL,
  material text NOT NULL,
  role text NOT NULL CHECK (role IN ('purchase', 'sale')),
  platform text NOT NULL,
  trade_id text NOT NULL,
  occurred_at timestamptz NOT NULL,
  quantity_g bigint NOT NULL,
  amount_fen bigint NOT NULL,
  -- Sales only: declared upstream [{ platform, trade_id, quantity_g }].
  claims jsonb NOT NULL DEFAULT '[]',
  PRIMARY KEY (party_key, material, role, platform, trade_id)
);

-- Streams that need re-allocation from `dirty_from` on. `generation` tells a worker whether
-- more changes arrived while it was allocating.
CREATE TABLE stream_dirty (
  party_key text NOT NULL,
  material text NOT NULL,
  dirty_from timestamptz NOT NULL,
  generation bigint NOT NULL DEFAULT 1,
  marked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (party_key, material)
);

CREATE TABLE allocations (
  party_key text NOT NULL,
  material text NOT NULL,
  sale_platform text NOT NULL,
  sale_trade_id text NOT NULL,
  purchase_platform text NOT NULL,
  purchase_trade_id text NOT NULL,
  basis text NOT NULL CHECK (basis IN ('declared', 'fifo')),
  quantity_g bigint NOT NULL CHECK (quantity_g > 0),
  sale_at timestamptz NOT NULL,
  PRIMARY KEY (party_key, material, sale_platform, sale_trade_id, purchase_platform, purchase_trade_id, basis)
);
CREATE INDEX allocations_sale ON allocations (sale_platform, sale_trade_id);
CREATE INDEX allocations_purchase ON allocations (purchase_platform, purchase_trade_id);
CREATE INDEX allocations_stream_time ON allocations (party_key, material, sale_at);

CREATE TABLE sale_results (
  party_key text NOT NULL,
  material text NOT NULL,
  platform text NOT NULL,
  trade_id text NOT NULL,
  sale_at timestamptz NOT NULL,
  quantity_g bigint NOT NULL,
  unsourced_g bigint NOT NULL,
  discrepancies jsonb NOT NULL DEFAULT '[]',
  PRIMARY KEY (party_key, material, platform, trade_id)
);
CREATE INDEX sale_results_trade ON sale_results (platform, trade_id);
CREATE INDEX sale_results_time ON sale_results (party_key, material, sale_at);

-- The data clock: the latest event time received from each platform (DOMAIN.md section 6).
CREATE TABLE platform_clocks (
  platform text PRIMARY KEY,
  data_clock timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
