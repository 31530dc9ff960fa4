-- Reference data: the material catalog and the VAT treatments with their effective periods
-- (DOMAIN.md sections 4 and 5). Seeded here; administrators change them with the CLI.

CREATE TABLE materials (
  code text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{0,31}$'),
  name_zh text NOT NULL,
  name_en text NOT NULL,
  hazardous boolean NOT NULL DEFAULT false,
  default_treatment text NOT NULL,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Reference prices in fen per tonne (tax inclusive), by Asia/Shanghai month range.
CREATE TABLE material_prices (
  material text NOT NULL REFERENCES materials (code),
  valid_from date NOT NULL,
  valid_to date,
  price_fen_per_t bigint NOT NULL CHECK (price_fen_per_t > 0),
  source text NOT NULL DEFAULT 'seed',
  PRIMARY KEY (material, valid_from)
);

CREATE TABLE tax_treatments (
  code text NOT NULL,
  valid_from date NOT NULL,
  valid_to date,
  -- Levy rate as an exact decimal (0.03 = 3%).
  levy_rate numeric(6, 4) NOT NULL CHECK (levy_rate >= 0 AND levy_rate < 1),
  -- Monthly sales (excl. VAT, fen) up to which a natural person's reverse-invoiced sales are exempt.
  monthly_exemption_fen bigint,
  description text NOT NULL,
  PRIMARY KEY (code, valid_from)
);

INSERT INTO materials (code, name_zh, name_en, hazardous, default_treatment) VALUES
  ('FE_HEAVY', '重型废钢', 'heavy scrap steel', false, 'simple_3'),
  ('FE_LIGHT', '轻薄料废钢', 'light scrap steel', false, 'simple_3'),
  ('FE_CAST', '废铸铁', 'scrap cast iron', false, 'simple_3'),
  ('SS', '废不锈钢', 'scrap stainless steel', false, 'simple_3'),
  ('CU', '废铜', 'scrap copper', false, 'simple_3'),
  ('AL', '废铝', 'scrap aluminium', false, 'simple_3'),
  ('PB_BATTERY', '废铅蓄电池', 'waste lead-acid batteries', true, 'simple_3'),
  ('LI_BATTERY', '废锂电池', 'waste lithium batteries', false, 'simple_3'),
  ('PAPER', '废纸', 'waste paper', false, 'simple_3'),
  ('PLASTIC', '废塑料', 'waste plastics', false, 'simple_3'),
  ('TIRE', '废轮胎', 'waste tyres', false, 'simple_3'),
  ('WEEE', '废弃电器电子产品', 'waste electrical and electronic equipment', false, 'simple_3'),
  ('ELV', '报废机动车', 'end-of-life vehicles', false, 'simple_3'),
  ('GLASS', '废玻璃', 'waste glass', false, 'simple_3'),
  ('TEXTILE', '废旧纺织品', 'waste textiles', false, 'simple_3'),
  ('OIL', '废矿物油', 'waste mineral oil', true, 'simple_3');

INSERT INTO material_prices (material, valid_from, price_fen_per_t) VALUES
  ('FE_HEAVY', '2020-01-01', 220000),
  ('FE_LIGHT', '2020-01-01', 190000),
  ('FE_CAST', '2020-01-01', 210000),
  ('SS', '2020-01-01', 900000),
  ('CU', '2020-01-01', 6000000),
  ('AL', '2020-01-01', 1600000),
  ('PB_BATTERY', '2020-01-01', 950000),
  ('LI_BATTERY', '2020-01-01', 1200000),
  ('PAPER', '2020-01-01', 160000),
  ('PLASTIC', '2020-01-01', 350000),
  ('TIRE', '2020-01-01', 100000),
  ('WEEE', '2020-01-01', 200000),
  ('ELV', '2020-01-01', 200000),
  ('GLASS', '2020-01-01', 30000),
  ('TEXTILE', '2020-01-01', 120000),
  ('OIL', '2020-01-01', 300000);

INSERT INTO tax_treatments (code, valid_from, valid_to, levy_rate, monthly_exemption_fen, description) VALUES
  ('simple_3', '2022-03-01', NULL, 0.03, NULL, 'simple method 3% for a filed recycler reselling bought scrap (财税公告2021年第40号)'),
  ('general_13', '2019-04-01', NULL, 0.13, NULL, 'general method 13%'),
  ('small_scale_1', '2023-01-01', '2027-12-31', 0.01, NULL, 'small-scale taxpayer, 3% reduced to 1% (财税公告2023年第19号)'),
  ('small_scale_1', '2028-01-01', NULL, 0.03, NULL, 'small-scale taxpayer after the reduction ends'),
  ('reverse_invoice', '2024-04-29', '2027-12-31', 0.01, 10000000, 'reverse invoicing for natural persons (税务总局公告2024年第5号), exempt up to ¥100,000 a month'),
  ('reverse_invoice', '2028-01-01', NULL, 0.03, 10000000, 'reverse invoicing after the small-scale reduction ends'),
  ('exempt', '2000-01-01', NULL, 0, NULL, 'exempt');
