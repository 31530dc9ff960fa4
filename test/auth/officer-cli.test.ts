import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { officerCommand, parseDivisions } from '../../src/cli/officer';
import { CliError } from '../../src/cli/output';
import { findOfficer, findOfficerByToken } from '../../src/repositories/officers.repository';
import { cliJson } from '../support/cli';
import { createTestContext, type TestContext, uid } from '../support/context';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext();
});
afterAll(async () => ctx.close());

const run = (args: string[], flags: Record<string, string | boolean> = {}) =>
  cliJson(() => officerCommand(ctx.rt, args, flags));

const login = () => uid('cli.').toLowerCase();

describe('retrace officer', () => {
  it('add prints { login, token }; the token authenticates that officer', async () => {
    const name = login();
    const out = await run(['add', name], {
      role: 'supervisor',
      divisions: '440703,440704,440703',
      pii: true,
    });
    expect(Object.keys(out).sort()).toEqual(['login', 'token']);
    expect(out.login).toBe(name);
    expect(out.token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect(await findOfficerByToken(ctx.rt.db, ctx.rt.keyring, out.token)).toEqual({
      login: name,
      role: 'supervisor',
      divisions: ['440703', '440704'],
      pii: true,
      status: 'enabled',
    });
  });

  it('add: pii defaults to false; auditors need no divisions', async () => {
    const name = login();
    await run(['add', name], { role: 'auditor' });
    expect(await findOfficer(ctx.rt.db, name)).toMatchObject({ role: 'auditor', divisions: [], pii: false });
  });

  it('add refuses bad roles, divisions, logins and duplicates', async () => {
    const name = login();
    await expect(run(['add', name], { role: 'root', divisions: '440703' })).rejects.toThrow(/--role/);
    await expect(run(['add', name], { role: 'officer' })).rejects.toThrow(/--divisions is required/);
    await expect(run(['add', name], { role: 'officer', divisions: '440703,4407' })).rejects.toThrow(/4407/);
    await expect(run(['add', name], { role: 'officer', divisions: '440000' })).rejects.toThrow(/440000/);
    // A real division, but not Jiangmen's: the officer would see nothing.
    await expect(run(['add', name], { role: 'officer', divisions: '440703,110105' })).rejects.toThrow(
      /not a division of Jiangmen: 110105/,
    );
    await expect(run(['add', 'Bad Login'], { role: 'officer', divisions: '440703' })).rejects.toThrow(
      /login/,
    );
    await run(['add', name], { role: 'officer', divisions: '440700' });
    // Well-formed commands that cannot be carried out are errors (exit 1), not usage errors (exit 2).
    await expect(run(['add', name], { role: 'officer', divisions: '440703' })).rejects.toThrow(CliError);
    await expect(run(['add', name], { role: 'officer', divisions: '440703' })).rejects.toThrow(
      /already exists/,
    );
    await expect(run(['disable', 'nobody.here'])).rejects.toThrow(CliError);
  });

  it('rotate-token revokes the old token', async () => {
    const name = login();
    const first = await run(['add', name], { role: 'officer', divisions: '440703' });
    const second = await run(['rotate-token', name]);
    expect(second.login).toBe(name);
    expect(second.token).not.toBe(first.token);
    expect(await findOfficerByToken(ctx.rt.db, ctx.rt.keyring, first.token)).toBeNull();
    expect(await findOfficerByToken(ctx.rt.db, ctx.rt.keyring, second.token)).not.toBeNull();
    await expect(run(['rotate-token', 'nobody.here'])).rejects.toThrow(/no officer/);
  });

  it('disable stops the token; list shows status and active tokens', async () => {
    const name = login();
    const { token } = await run(['add', name], { role: 'officer', divisions: '440703' });
    expect(await run(['disable', name])).toEqual({ login: name, status: 'disabled' });
    expect(await findOfficerByToken(ctx.rt.db, ctx.rt.keyring, token)).toBeNull();
    const { officers } = await run(['list']);
    const row = officers.find((o: { login: string }) => o.login === name);
    expect(row).toMatchObject({ status: 'disabled', active_tokens: 0, divisions: ['440703'] });
    expect(JSON.stringify(officers)).not.toContain(token);
  });

  it('parseDivisions trims and deduplicates', () => {
    expect(parseDivisions(' 440703 , 440704,440703,')).toEqual(['440703', '440704']);
  });
});
