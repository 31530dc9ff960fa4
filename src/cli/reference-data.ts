import { sql } from 'kysely';
import type { Db } from '../db/database';
import { TAX_TREATMENTS } from '../domain/catalog';
import { formatMoney, parseMoney, QUANTITY_UNITS } from '../domain/money';
import { IIT_PREPAY_CODE } from '../domain/reference-sheet';
import type { Runtime } from '../runtime';
import { CliError, monthStartFlag, printJson, say, UsageError } from './output';

/**
 * The reference data administrators keep (DOMAIN.md 4 and 5, "where a figure is a default, the
 * software must let an administrator change it, with the period it applies to"):
 *
 *   materials list
 *   materials add <CODE> --name-zh <名称> --name-en <name> --treatment <code> [--unit t|kg]
 *                        [--hazardous yes|no] [--price <¥ per t> --from YYYY-MM]
 *   materials set <CODE> [--name-zh] [--name-en] [--treatment] [--unit] [--hazardous yes|no]
 *   materials disable <CODE> | materials enable <CODE>
 *   materials price <CODE> --from YYYY-MM --price <¥ per t>
 *   treatments list
 *   treatments set <code> --from YYYY-MM-DD --rate 0.01 [--monthly-exemption <¥>|none] [--description TEXT]
 *     (reverse_invoice keeps the monthly exemption in force on its date unless one is given)
 *
 * Rates and prices are versions with an effective period: a new version applies from its date,
 * the version before it ends the day before, and a version already starting that day is
 * replaced. Reference sheets read them when asked; findings of past months change with
 * `rules replay`. A material is never deleted (trades name it): disabling it makes ingestion
 * refuse new records that use it, within a minute (the API's catalog cache).
 */
export interface ReferenceDataFlags {
  'name-zh'?: string;
  'name-en'?: string;
  treatment?: string;
  unit?: string;
  hazardous?: string;
  price?: string;
  from?: string;
  rate?: string;
  'monthly-exemption'?: string;
  description?: string;
}

const MATERIAL_CODE = /^[A-Z][A-Z0-9_]{0,31}$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** Why `materials price --from` is a month: the price rule reads the price in force on a month's first day. */
const PRICES_BY_MONTH = 'reference prices apply by month';
/** Treatments a trade may declare (CONTRACT.md 1.3), and the income-tax prepayment rate. */
const TREATMENT_CODES: readonly string[] = [...TAX_TREATMENTS, IIT_PREPAY_CODE];

export const MATERIALS_USAGE = `materials list
  materials add <CODE> --name-zh <名称> --name-en <name> --treatment <code> [--unit t|kg] [--hazardous yes|no] [--price <¥ per t> --from YYYY-MM]
  materials set <CODE> [--name-zh <名称>] [--name-en <name>] [--treatment <code>] [--unit t|kg] [--hazardous yes|no]
  materials disable <CODE> | enable <CODE> | price <CODE> --from YYYY-MM --price <¥ per t>`;
export const TREATMENTS_USAGE =
  'treatments list | treatments set <code> --from YYYY-MM-DD --rate 0.01 [--monthly-exemption <¥>|none] [--description TEXT]';

export async function materialsCommand(
  rt: Runtime,
  args: string[],
  flags: ReferenceDataFlags,
): Promise<void> {
  const [sub, code] = args;
  if (sub === 'list') {
    printJson({ materials: await listMaterials(rt.db) });
    return;
  }
  if (!['add', 'set', 'disable', 'enable', 'price'].includes(sub ?? ''))
    throw new UsageError(MATERIALS_USAGE);
  if (!code || !MATERIAL_CODE.test(code)) {
    throw new UsageError(
      `materials ${sub} needs a material code: an upper-case letter, then A-Z, 0-9 or "_" (at most 32)\n\n${MATERIALS_USAGE}`,
    );
  }
  const exists = await rt.db
    .selectFrom('materials')
    .select('code')
    .where('code', '=', code)
    .executeTakeFirst();
  if (sub === 'add') {
    if (exists)
      throw new CliError(`material ${code} exists already: change it with \`materials set ${code}\``);
    const nameZh = text(flags['name-zh'], '--name-zh');
    const nameEn = text(flags['name-en'], '--name-en');
    if (nameZh === undefined || nameEn === undefined || flags.treatment === undefined)
      throw new UsageError(MATERIALS_USAGE);
    const row = {
      code,
      name_zh: nameZh,
      name_en: nameEn,
      default_treatment: tradeTreatment(flags.treatment),
      unit: unitFlag(flags.unit) ?? 't',
      hazardous: yesNo(flags.hazardous) ?? false,
    };
    const price = flags.price === undefined ? null : priceFlag(flags.price);
    if (price === null && flags.from !== undefined) throw new UsageError('--from goes with --price');
    const from = price === null ? null : monthStartFlag(flags.from ?? '2000-01', PRICES_BY_MONTH);
    await rt.db.transaction().execute(async (trx) => {
      await trx.insertInto('materials').values(row).execute();
      if (price !== null && from !== null) await setPrice(trx, code, from, price);
    });
    say(`material ${code} added${price === null ? ' (no reference price: the price rule skips it)' : ''}`);
    printJson({ material: (await listMaterials(rt.db, code))[0] });
    return;
  }
  if (!exists) throw new CliError(`no material ${code}: \`materials list\` shows the catalog`);
  if (sub === 'disable' || sub === 'enable') {
    await rt.db
      .updateTable('materials')
      .set({ active: sub === 'enable' })
      .where('code', '=', code)
      .execute();
    say(
      sub === 'disable'
        ? `material ${code} disabled: new records naming it are refused (stored ones keep it)`
        : `material ${code} enabled`,
    );
  } else if (sub === 'set') {
    const changes = {
      ...(flags['name-zh'] === undefined ? {} : { name_zh: text(flags['name-zh'], '--name-zh')! }),
      ...(flags['name-en'] === undefined ? {} : { name_en: text(flags['name-en'], '--name-en')! }),
      ...(flags.treatment === undefined ? {} : { default_treatment: tradeTreatment(flags.treatment) }),
      ...(flags.unit === undefined ? {} : { unit: unitFlag(flags.unit)! }),
      ...(flags.hazardous === undefined ? {} : { hazardous: yesNo(flags.hazardous)! }),
    };
    if (Object.keys(changes).length === 0)
      throw new UsageError(`materials set ${code}: nothing to change\n\n${MATERIALS_USAGE}`);
    await rt.db.updateTable('materials').set(changes).where('code', '=', code).execute();
    say(`material ${code} changed: ${Object.keys(changes).join(', ')}`);
  } else {
    if (flags.price === undefined || flags.from === undefined)
      throw new UsageError(`materials price ${code} --from YYYY-MM --price <¥ per t>`);
    const price = priceFlag(flags.price);
    const from = monthStartFlag(flags.from, PRICES_BY_MONTH);
    await rt.db.transaction().execute((trx) => setPrice(trx, code, from, price));
    say(
      `reference price of ${code} from ${from}: ¥${formatMoney(price)}/t; run \`rules replay\` to recompute past periods`,
    );
  }
  printJson({ material: (await listMaterials(rt.db, code))[0] });
}

export async function treatmentsCommand(
  rt: Runtime,
  args: string[],
  flags: ReferenceDataFlags,
): Promise<void> {
  const [sub, code] = args;
  if (sub === 'list') {
    printJson({ treatments: await listTreatments(rt.db) });
    return;
  }
  if (sub !== 'set' || !code) throw new UsageError(TREATMENTS_USAGE);
  if (!TREATMENT_CODES.includes(code))
    throw new UsageError(`unknown treatment "${code}": one of ${TREATMENT_CODES.join(', ')}`);
  if (flags.from === undefined || !isCalendarDate(flags.from))
    throw new UsageError(`--from must be a real date YYYY-MM-DD\n\n${TREATMENTS_USAGE}`);
  if (flags.rate === undefined || !/^0(\.\d{1,4})?$/.test(flags.rate))
    throw new UsageError('--rate must be a decimal in [0, 1) with at most 4 decimals, e.g. 0.01');
  const exemptionFlag = flags['monthly-exemption'];
  if (exemptionFlag !== undefined && code !== 'reverse_invoice')
    throw new UsageError(
      '--monthly-exemption applies to reverse_invoice only (a natural person’s monthly VAT exemption)',
    );
  const from = flags.from;
  // A new reverse-invoicing rate keeps the monthly exemption in force on its date unless one is
  // given (`none` removes it): changing the rate alone must not drop the exemption silently.
  const exemption =
    exemptionFlag === 'none'
      ? null
      : exemptionFlag !== undefined
        ? priceFlag(exemptionFlag, '--monthly-exemption')
        : code === 'reverse_invoice'
          ? await exemptionInForce(rt.db, from)
          : null;
  const description =
    text(flags.description, '--description') ?? `set by an administrator (cli treatments set) from ${from}`;
  await rt.db.transaction().execute((trx) =>
    putVersion(trx, {
      table: 'tax_treatments',
      keyColumn: 'code',
      key: code,
      from,
      values: { levy_rate: flags.rate!, monthly_exemption_fen: exemption, description },
    }),
  );
  const kept =
    code === 'reverse_invoice'
      ? `, monthly exemption ${exemption === null ? 'none' : `¥${formatMoney(exemption)}`}${exemptionFlag === undefined ? ' (kept from the version in force)' : ''}`
      : '';
  say(
    `${code} at ${flags.rate} from ${from}${kept}; reference sheets use it now, run \`rules replay\` to recompute past findings`,
  );
  printJson({ treatments: (await listTreatments(rt.db)).filter((t) => t.code === code) });
}

async function listMaterials(db: Db, only?: string) {
  let q = db
    .selectFrom('materials')
    .select(['code', 'name_zh', 'name_en', 'unit', 'hazardous', 'default_treatment', 'active'])
    .orderBy('code');
  if (only !== undefined) q = q.where('code', '=', only);
  const materials = await q.execute();
  const prices = await db
    .selectFrom('material_prices')
    .select(['material', 'valid_from', 'valid_to', 'price_fen_per_t', 'source'])
    .orderBy('material')
    .orderBy('valid_from')
    .execute();
  return materials.map((m) => ({
    ...m,
    reference_prices: prices
      .filter((p) => p.material === m.code)
      .map((p) => ({
        valid_from: dateText(p.valid_from),
        valid_to: p.valid_to === null ? null : dateText(p.valid_to),
        price_per_t: formatMoney(p.price_fen_per_t),
        source: p.source,
      })),
  }));
}

async function listTreatments(db: Db) {
  const rows = await db
    .selectFrom('tax_treatments')
    .select(['code', 'valid_from', 'valid_to', 'levy_rate', 'monthly_exemption_fen', 'description'])
    .orderBy('code')
    .orderBy('valid_from')
    .execute();
  return rows.map((r) => ({
    code: r.code,
    valid_from: dateText(r.valid_from),
    valid_to: r.valid_to === null ? null : dateText(r.valid_to),
    rate: String(r.levy_rate),
    monthly_exemption: r.monthly_exemption_fen === null ? null : formatMoney(r.monthly_exemption_fen),
    description: r.description,
  }));
}

/** A reference price from `from` (a month's first day) on; the version before it ends the day before. */
function setPrice(db: Db, material: string, from: string, priceFen: bigint): Promise<void> {
  return putVersion(db, {
    table: 'material_prices',
    keyColumn: 'material',
    key: material,
    from,
    values: { price_fen_per_t: priceFen, source: 'cli' },
  });
}

/**
 * A version of one key's rows from `from` on, in a table of versions (`valid_from`, `valid_to`):
 * it ends the day before the next version starts (open-ended when none does), the version in
 * force on `from` ends the day before, and a version starting that very day is replaced.
 */
async function putVersion(
  db: Db,
  v: {
    table: 'tax_treatments' | 'material_prices';
    keyColumn: 'code' | 'material';
    key: string;
    from: string;
    values: Record<string, string | bigint | null>;
  },
): Promise<void> {
  await lockVersions(db, `${v.table}:${v.key}`);
  const table = sql.table(v.table);
  const key = sql.ref(v.keyColumn);
  const columns = Object.keys(v.values);
  await sql`
    INSERT INTO ${table} (${key}, valid_from, valid_to, ${sql.join(columns.map((c) => sql.ref(c)))})
    VALUES (${v.key}, ${v.from}::date,
      (SELECT min(valid_from) - 1 FROM ${table} WHERE ${key} = ${v.key} AND valid_from > ${v.from}::date),
      ${sql.join(columns.map((c) => sql`${v.values[c]}`))})
    ON CONFLICT (${key}, valid_from) DO UPDATE
      SET ${sql.join(columns.map((c) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`))}`.execute(db);
  await sql`
    UPDATE ${table} SET valid_to = ${v.from}::date - 1
    WHERE ${key} = ${v.key} AND valid_from < ${v.from}::date AND (valid_to IS NULL OR valid_to >= ${v.from}::date)`.execute(
    db,
  );
}

/** Two administrators changing the same versions at once: one after the other. */
async function lockVersions(db: Db, key: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`reference-data:${key}`}, 0))`.execute(db);
}

/** The reverse-invoicing monthly exemption in force on `day` (null: none). */
async function exemptionInForce(db: Db, day: string): Promise<bigint | null> {
  const row = await db
    .selectFrom('tax_treatments')
    .select('monthly_exemption_fen')
    .where('code', '=', 'reverse_invoice')
    .where('valid_from', '<=', day)
    .orderBy('valid_from', 'desc')
    .executeTakeFirst();
  return row?.monthly_exemption_fen ?? null;
}

/** `YYYY-MM-DD` naming a day that exists (not 2026-02-30). */
function isCalendarDate(s: string): boolean {
  if (!DAY.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

function priceFlag(value: string, flag = '--price'): bigint {
  const fen = parseMoney(value);
  if (fen === null || fen <= 0n)
    throw new UsageError(`${flag} must be a positive CNY amount with at most 2 decimals, e.g. 2200.00`);
  return fen;
}

function tradeTreatment(value: string): string {
  if (!(TAX_TREATMENTS as readonly string[]).includes(value))
    throw new UsageError(`--treatment must be one of ${TAX_TREATMENTS.join(', ')}`);
  return value;
}

function unitFlag(value: string | undefined): string | undefined {
  if (value !== undefined && !(QUANTITY_UNITS as readonly string[]).includes(value))
    throw new UsageError(`--unit must be one of ${QUANTITY_UNITS.join(', ')}`);
  return value;
}

function yesNo(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== 'yes' && value !== 'no') throw new UsageError('--hazardous must be yes or no');
  return value === 'yes';
}

function text(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const t = value.trim();
  if (t.length === 0 || t.length > 200) throw new UsageError(`${flag} must be 1–200 characters`);
  return t;
}

const dateText = (d: Date | string) => (typeof d === 'string' ? d : d.toISOString().slice(0, 10));
