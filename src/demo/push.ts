import { makeResidentId, makeUscc } from '../domain/ids';
import { PlatformClient } from '../simulate/client';

/**
 * A small, fixed data set pushed through the public ingestion API: a few natural persons selling
 * scrap steel to one recycling station, with payments and weighings.
 */
export async function pushDemoData(opts: {
  baseUrl: string;
  platform: string;
  secret: string;
  log: (m: string) => void;
}) {
  const client = new PlatformClient(opts.baseUrl, opts.platform, opts.secret);
  const station = {
    kind: 'enterprise' as const,
    uscc: makeUscc('91440703MA0000001'),
    name: '江门市蓬江区绿源回收站',
  };
  await client.sendEvent({
    type: 'party.registered',
    timestamp: '2026-09-01T08:00:00+08:00',
    data: {
      uscc: station.uscc,
      name: station.name,
      division: '440703',
      taxpayer_kind: 'general',
      established_on: '2019-03-01',
      recycling_filing_no: 'JM-440703-0001',
      roles: ['recycler'],
    },
  });
  for (let i = 0; i < 20; i++) {
    const seller = {
      kind: 'natural_person' as const,
      id_number: makeResidentId(`44070319${70 + (i % 20)}0101${String(100 + i).padStart(3, '0')}`),
      name: `卖家${i + 1}`,
    };
    const day = String(1 + (i % 28)).padStart(2, '0');
    const tradeId = `DEMO-T-${i + 1}`;
    const kg = 500 + i * 37;
    const amount = ((kg * 220) / 100).toFixed(2);
    await client.sendEvent({
      type: 'trade.created',
      timestamp: `2026-09-${day}T09:00:00+08:00`,
      data: {
        trade_id: tradeId,
        version: 1,
        occurred_at: `2026-09-${day}T09:00:00+08:00`,
        seller,
        buyer: station,
        site: { code: 'JM-PJ-01', division: '440703' },
        lines: [{ material: 'FE_HEAVY', quantity: String(kg), unit: 'kg', unit_price: '2.20', amount }],
        total_amount: amount,
        tax_treatment: 'reverse_invoice',
      },
    });
  }
  opts.log(
    `pushed ${client.stats.sent} events (${client.stats.accepted} accepted, ${client.stats.duplicates} duplicates)`,
  );
  return client.stats;
}
