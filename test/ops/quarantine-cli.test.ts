import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/output';
import { quarantineCommand } from '../../src/cli/quarantine';
import { cliJson } from '../support/cli';
import { createTestContext, type TestContext } from '../support/context';
import { tradeCreated } from '../support/factories';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

const run = (args: string[], flags: Record<string, string | boolean> = {}) =>
  cliJson(() => quarantineCommand(ctx.rt, args, flags));

describe('retrace quarantine', () => {
  it('list pages newest first with --limit and --before; replay of an unknown id is an error', async () => {
    const p = await ctx.addPlatform();
    for (let i = 0; i < 3; i++) {
      const bad = tradeCreated({ total_amount: 12 }); // a JSON number: 400, quarantined
      const res = await ctx.post(`/v1/ingest/${p.code}/events`, JSON.stringify(bad), { secret: p.secret });
      expect(res.status).toBe(400);
    }
    const first = await run(['list'], { platform: p.code, limit: '2' });
    expect(first.items).toHaveLength(2);
    expect(BigInt(first.items[0].id)).toBeGreaterThan(BigInt(first.items[1].id));
    expect(first.next_before).toBe(String(first.items[1].id));
    const second = await run(['list'], { platform: p.code, limit: '2', before: first.next_before });
    expect(second.items).toHaveLength(1);
    expect(second.next_before).toBeNull();
    const all = await run(['list'], { platform: p.code });
    expect(all.items.map((r: { id: string }) => String(r.id))).toEqual(
      [...first.items, ...second.items].map((r: { id: string }) => String(r.id)),
    );
    await expect(run(['list'], { before: 'abc' })).rejects.toThrow(/--before/);
    // A replay that fails is recorded too, and the entry stays in the list of what still waits.
    const id = String(first.items[0].id);
    const replay = await run(['replay', id]);
    process.exitCode = undefined; // the command sets 1 for a replay still invalid
    expect(replay).toMatchObject({ id, outcome: 'still_invalid' });
    const after = await run(['list'], { platform: p.code });
    const entry = after.items.find((r: { id: string }) => String(r.id) === id);
    expect(entry).toMatchObject({ replay_outcome: 'still_invalid' });
    expect(entry.replayed_at).not.toBeNull();
    await expect(run(['replay', '999999999'])).rejects.toThrow(CliError);
  });
});
