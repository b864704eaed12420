import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('the controller log format', () => {
  it('writes one JSON object a line, with the level as a word and the time in ISO 8601 UTC', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').trim().split('\n'));
        done();
      },
    });
    const logger = createLogger({ level: 'debug', destination });
    logger.info({ release: 'shop/reviews' }, 'reconciled');
    logger.warn('slow');
    logger.child({ component: 'kube' }).error({ err: new Error('boom') }, 'list failed');
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => r.level)).toEqual(['info', 'warn', 'error']);
    for (const r of records) expect(r.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(records[0]).toMatchObject({ app: 'canaria', release: 'shop/reviews', msg: 'reconciled' });
    expect(records[2]).toMatchObject({ component: 'kube', err: { message: 'boom' }, msg: 'list failed' });
  });
});
