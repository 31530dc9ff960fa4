-- The catalog names each material's unit (CONTRACT.md 1.3: "each with its Chinese name, unit and
-- the VAT treatment it normally gets"): the unit its trades are normally quoted in. Scrap is
-- traded by weight and the reference prices are per tonne, so every seeded material is 't'.
-- Administrators set it with `cli materials add | set --unit`.
ALTER TABLE materials ADD COLUMN unit text NOT NULL DEFAULT 't' CHECK (unit IN ('t', 'kg'));
