import { isValidDivision, JIANGMEN_DIVISIONS } from '../domain/ids';
import {
  insertOfficer,
  listOfficers,
  OFFICER_LOGIN,
  OFFICER_ROLES,
  type OfficerRole,
  rotateOfficerToken,
  setOfficerStatus,
} from '../repositories/officers.repository';
import type { Runtime } from '../runtime';
import { CliError, printJson, say, UsageError } from './output';

const USAGE =
  'officer add <login> --role officer|supervisor|auditor|admin --divisions 440703,440704 [--pii]\n' +
  '  | officer rotate-token <login> | officer disable <login> | officer enable <login> | officer list';

export interface OfficerFlags {
  role?: string | boolean;
  divisions?: string | boolean;
  pii?: string | boolean;
}

/** Parses `--divisions 440703,440704`: valid 6-digit division codes, deduplicated. */
export function parseDivisions(value: string): string[] {
  const codes = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = codes.filter((c) => !isValidDivision(c));
  if (bad.length > 0) {
    throw new UsageError(
      `not a division code: ${bad.join(', ')} (6-digit 行政区划代码 such as 440703; 440700 = all of Jiangmen)`,
    );
  }
  // The bureau's officers hold Jiangmen's divisions: any other code would show them nothing.
  const elsewhere = codes.filter((c) => !JIANGMEN_DIVISIONS.some((d) => d.code === c));
  if (elsewhere.length > 0) {
    throw new UsageError(
      `not a division of Jiangmen: ${elsewhere.join(', ')} (one of ${JIANGMEN_DIVISIONS.map((d) => d.code).join(', ')})`,
    );
  }
  return [...new Set(codes)];
}

export async function officerCommand(rt: Runtime, args: string[], flags: OfficerFlags): Promise<void> {
  const [sub, login] = args;
  if (sub === 'list') {
    const rows = await listOfficers(rt.db);
    printJson({
      officers: rows.map((r) => ({ ...r, active_tokens: Number(r.active_tokens ?? 0) })),
    });
    return;
  }
  if (!sub || !['add', 'rotate-token', 'disable', 'enable'].includes(sub)) throw new UsageError(USAGE);
  if (!login) throw new UsageError(`officer ${sub} needs a login\n\n${USAGE}`);
  if (!OFFICER_LOGIN.test(login)) {
    throw new UsageError('a login is 2–64 characters: a lowercase letter, then a-z, 0-9, ".", "_" or "-"');
  }
  switch (sub) {
    case 'add': {
      const role = flags.role;
      if (typeof role !== 'string' || !(OFFICER_ROLES as readonly string[]).includes(role)) {
        throw new UsageError(`--role must be one of ${OFFICER_ROLES.join(', ')}\n\n${USAGE}`);
      }
      const divisions = typeof flags.divisions === 'string' ? parseDivisions(flags.divisions) : [];
      // Officers and supervisors read records by division: without one they would see nothing.
      if ((role === 'officer' || role === 'supervisor') && divisions.length === 0) {
        throw new UsageError(`--divisions is required for role ${role} (e.g. --divisions 440703,440704)`);
      }
      const pii = flags.pii === true || flags.pii === 'true';
      const token = await insertOfficer(rt.db, rt.keyring, {
        login,
        role: role as OfficerRole,
        divisions,
        pii,
      });
      if (token === null) {
        throw new CliError(`officer ${login} already exists (use rotate-token for a new token)`);
      }
      say(`added officer ${login} (${role}); keep the token: it is shown only now`);
      printJson({ login, token });
      return;
    }
    case 'rotate-token': {
      const token = await rotateOfficerToken(rt.db, rt.keyring, login);
      if (token === null) throw new CliError(`no officer ${login}`);
      say(`new token for ${login}; every earlier token is revoked`);
      printJson({ login, token });
      return;
    }
    case 'disable':
    case 'enable': {
      const status = sub === 'disable' ? 'disabled' : 'enabled';
      if (!(await setOfficerStatus(rt.db, login, status))) throw new CliError(`no officer ${login}`);
      say(
        sub === 'disable'
          ? `officer ${login} disabled; their tokens are revoked`
          : `officer ${login} enabled; issue a token with \`officer rotate-token ${login}\``,
      );
      printJson({ login, status });
      return;
    }
  }
}
