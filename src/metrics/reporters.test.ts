import { describe, expect, it } from 'vitest';
import { diagnoseReporters, reporterProbeQueries } from './reporters.js';

const byReporter = (entries: Record<string, number>) =>
  Object.entries(entries).map(([reporter, value]) => ({ labels: { reporter }, value }));
const tcp = (value: number) => [{ labels: {}, value }];

describe('diagnoseReporters', () => {
  it('is ok when the counted reporter has requests; auto counts destination and waypoint', () => {
    expect(diagnoseReporters('reviews', 'auto', byReporter({ waypoint: 12 }), tcp(3))).toEqual({
      kind: 'ok',
    });
    expect(diagnoseReporters('reviews', 'auto', byReporter({ destination: 1 }), [])).toEqual({ kind: 'ok' });
  });

  it('says when only TCP is reported (ambient without a waypoint)', () => {
    const d = diagnoseReporters('reviews', 'auto', [], tcp(40));
    expect(d.kind).toBe('no-l7-reporter');
    expect(d.kind === 'no-l7-reporter' && d.message).toContain('waypoint');
  });

  it('names the reporter that has the requests when the release counts another', () => {
    expect(
      diagnoseReporters('reviews', 'destination', byReporter({ waypoint: 5, source: 0 }), tcp(1)),
    ).toMatchObject({
      kind: 'other-reporter',
      reporters: ['waypoint'],
    });
  });

  it('is no traffic when neither requests nor connections are seen', () => {
    expect(diagnoseReporters('reviews', 'auto', byReporter({ waypoint: 0 }), tcp(0))).toEqual({
      kind: 'no-traffic',
    });
  });

  it("queries both families for the namespace's Services, by Service", () => {
    const q = reporterProbeQueries('shop', ['reviews'], 300);
    expect(q.requests).toBe(
      'sum by (destination_service_name, reporter) (increase(istio_requests_total{destination_service_namespace="shop",destination_service_name="reviews"}[300s]))',
    );
    expect(reporterProbeQueries('shop', ['a', 'b'], 60).tcp).toContain('destination_service_name=~"a|b"');
    expect(q.tcp).toContain('istio_tcp_connections_opened_total{destination_service_namespace="shop"');
  });
});
