import {
  addPlatformSecret,
  insertPlatform,
  listPlatforms,
  PLATFORM_CODE,
  revokeOldSecrets,
  setPlatformStatus,
} from '../repositories/platforms.repository';
import type { Runtime } from '../runtime';
import { generateSecret } from '../security/webhook';
import { CliError, printJson, say, UsageError } from './output';

export async function platformCommand(
  rt: Runtime,
  args: string[],
  flags: { name?: string; 'rate-limit'?: string },
): Promise<void> {
  const [sub, code] = args;
  if (sub === 'list') {
    printJson({ platforms: await listPlatforms(rt.db) });
    return;
  }
  if (!code) throw new UsageError(`platform ${sub ?? '<command>'} needs a platform code`);
  if (!PLATFORM_CODE.test(code))
    throw new UsageError('a platform code is 2–32 characters: a lowercase letter, then a-z, 0-9, "_" or "-"');
  switch (sub) {
    case 'add': {
      if (!flags.name) throw new UsageError('platform add <code> --name <name> [--rate-limit <requests/s>]');
      const rate = flags['rate-limit'] === undefined ? undefined : Number(flags['rate-limit']);
      if (rate !== undefined && (!Number.isInteger(rate) || rate < 1))
        throw new UsageError('--rate-limit must be a positive whole number');
      const secret = generateSecret();
      const created = await insertPlatform(rt.db, {
        code,
        name: flags.name,
        rateLimitPerSecond: rate,
        secretEnc: rt.keyring.encrypt('platform-secrets', secret),
      });
      if (!created)
        throw new CliError(`platform ${code} already exists (use rotate-secret for a new secret)`);
      say(`registered platform ${code}; keep the secret: it is shown only now`);
      printJson({ code, secret });
      return;
    }
    case 'rotate-secret': {
      const secret = generateSecret();
      const n = await addPlatformSecret(rt.db, code, rt.keyring.encrypt('platform-secrets', secret));
      if (n === null) throw new CliError(`no platform ${code}`);
      say(`secret #${n} added; earlier secrets stay valid until \`platform revoke-old-secrets ${code}\``);
      printJson({ code, secret });
      return;
    }
    case 'revoke-old-secrets': {
      const revoked = await revokeOldSecrets(rt.db, code, 1);
      printJson({ code, revoked });
      return;
    }
    case 'disable':
    case 'enable': {
      const ok = await setPlatformStatus(rt.db, code, sub === 'disable' ? 'disabled' : 'enabled');
      if (!ok) throw new CliError(`no platform ${code}`);
      say(`platform ${code} ${sub}d (running API processes are notified)`);
      printJson({ code, status: sub === 'disable' ? 'disabled' : 'enabled' });
      return;
    }
    default:
      throw new UsageError('platform add|rotate-secret|revoke-old-secrets|disable|enable|list');
  }
}
