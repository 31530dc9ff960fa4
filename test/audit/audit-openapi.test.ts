import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database';
import { createBaseApp } from '../../src/http/app';
import { OPENAPI_INFO } from '../../src/http/create-app';
import { registerAudit } from '../../src/http/routes/audit/listAuditEntries';
import { createLogger } from '../../src/log';
import { createMetrics } from '../../src/ops/metrics';
import { json } from '../support/context';

describe('OpenAPI document', () => {
  it('declares GET /v1/audit with its parameters, errors and the bearer scheme (registered once)', async () => {
    const app = createBaseApp({ log: createLogger('silent'), metrics: createMetrics('test') });
    registerAudit(app, { db: {} as Db });
    registerAudit(app, { db: {} as Db });
    app.doc31('/openapi.json', OPENAPI_INFO);
    const doc = await json(await app.request('/openapi.json'));
    expect(doc.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    });
    const op = doc.paths['/v1/audit'].get;
    expect(op.operationId).toBe('listAuditEntries');
    expect(op.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '403', '429', '503']);
    expect(op.parameters.map((p: { name: string }) => p.name).sort()).toEqual([
      'actor',
      'cursor',
      'from',
      'limit',
      'to',
    ]);
    expect(op.responses['200'].content['application/json'].example.items).toHaveLength(1);
  });
});
