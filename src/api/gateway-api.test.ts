import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { gatewayApiRouting, resolveGatewayApiRouting } from './gateway-api.js';

describe('trafficRouting.gatewayAPI', () => {
  it('defaults weightTotal to 100 and takes a rule by name or index', () => {
    expect(gatewayApiRouting.parse({ httpRoute: { name: 'reviews', rule: 'main' } })).toEqual({
      httpRoute: { name: 'reviews', rule: 'main' },
      weightTotal: 100,
    });
    expect(gatewayApiRouting.parse({ httpRoute: { name: 'reviews', rule: 2 } }).httpRoute.rule).toBe(2);
  });

  it('refuses a rule that is neither a rule name nor an index, and an unknown weight total', () => {
    expect(gatewayApiRouting.safeParse({ httpRoute: { name: 'r', rule: 'Main Rule' } }).success).toBe(false);
    expect(gatewayApiRouting.safeParse({ httpRoute: { name: 'r', rule: -1 } }).success).toBe(false);
    const total = gatewayApiRouting.safeParse({ httpRoute: { name: 'r' }, weightTotal: 50 });
    expect(total.error?.issues[0]?.message).toBe('must be one of 100, 1000, 10000');
  });

  it('resolves the Services: named ones win, managed mode defaults to <service>-primary and -canary', () => {
    const spec = gatewayApiRouting.parse({ httpRoute: { name: 'reviews' } });
    expect(resolveGatewayApiRouting(spec, 'reviews')).toMatchObject({
      stableService: 'reviews-primary',
      canaryService: 'reviews-canary',
    });
    expect(resolveGatewayApiRouting(spec)).toBeUndefined();
    const named = gatewayApiRouting.parse({
      httpRoute: { name: 'r' },
      stableService: 'v1',
      canaryService: 'v2',
    });
    expect(resolveGatewayApiRouting(named, 'reviews')).toMatchObject({
      stableService: 'v1',
      canaryService: 'v2',
    });
  });

  it('describes every field, for the CRD and kubectl explain', () => {
    const undescribed: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      for (const [key, child] of Object.entries(
        (node.properties ?? {}) as Record<string, Record<string, unknown>>,
      )) {
        if (typeof child.description !== 'string') undescribed.push(`${path}.${key}`);
        walk(child, `${path}.${key}`);
      }
    };
    walk(z.toJSONSchema(gatewayApiRouting, { io: 'input' }), 'gatewayAPI');
    expect(undescribed).toEqual([]);
  });
});

describe('trafficRouting.gatewayAPI Services', () => {
  it('refuses the same Service for stable and canary, naming the field', () => {
    const parsed = gatewayApiRouting.safeParse({
      httpRoute: { name: 'r' },
      stableService: 'v1',
      canaryService: 'v1',
    });
    expect(parsed.error?.issues[0]).toMatchObject({
      path: ['canaryService'],
      message: expect.stringContaining('both v1') as string,
    });
  });
});
