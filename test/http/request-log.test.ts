import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createBaseApp } from '../../src/http/app';
import { createMetrics } from '../../src/ops/metrics';

describe('the request log', () => {
  it('does not write an id number typed into a path in clear (DOMAIN.md 8)', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = createBaseApp({ log: pino({ level: 'info' }, sink), metrics: createMetrics('test') });
    app.get('/v1/parties/:key', (c) => c.json({ ok: true }));
    await app.request('/v1/parties/11010519491231002X');
    const entry = JSON.parse(lines.find((l) => l.includes('"request"'))!);
    expect(entry.path).toBe('/v1/parties/110105********002X');
    expect(lines.join('')).not.toContain('11010519491231002X');
  });
});
