import { describe, it, expect } from 'vitest';
import { route, to, virtualService } from '../../../test/fixtures/seeds/builders.js';
import { gatewayMatches, hostMatchSpecificity, qualifyHost, sameHost } from './hosts.js';
import { selectVirtualService } from './select.js';

describe('hosts', () => {
  it('reads a short name in the namespace of the resource that holds it', () => {
    expect(qualifyHost('reviews', 'shop')).toBe('reviews.shop.svc.cluster.local');
    expect(qualifyHost('Reviews.shop.svc.cluster.local:9080', 'x')).toBe('reviews.shop.svc.cluster.local');
    expect(qualifyHost('*.a.com', 'x')).toBe('*.a.com');
    expect(sameHost('svc-b', 'default', 'svc-b.default.svc.cluster.local', 'other')).toBe(true);
    expect(sameHost('svc-b', 'default', 'svc-b', 'other')).toBe(false);
  });

  it('ranks exact hosts above longer wildcards above shorter ones, and accepts DNS search-path forms', () => {
    const exact = hostMatchSpecificity('reviews', 'shop', 'reviews.shop', 'client');
    const wildcard = hostMatchSpecificity('*.a.com', 'x', 'demo4.a.com', 'x');
    const star = hostMatchSpecificity('*', 'x', 'demo4.a.com', 'x');
    expect(exact).toBeGreaterThan(wildcard ?? Infinity);
    expect(wildcard).toBeGreaterThan(star ?? Infinity);
    expect(hostMatchSpecificity('reviews', 'shop', 'reviews.shop.svc', 'client')).toBe(exact);
    expect(hostMatchSpecificity('reviews', 'shop', 'reviews', 'client')).toBeUndefined();
    expect(hostMatchSpecificity('*.a.com', 'x', 'a.org', 'x')).toBeUndefined();
  });

  it('names gateways with or without namespace, and keeps the mesh apart', () => {
    expect(gatewayMatches('demo4-gateway', 'test1', 'demo4-gateway')).toBe(true);
    expect(gatewayMatches('demo4-gateway', 'test1', 'test1/demo4-gateway')).toBe(true);
    expect(gatewayMatches('istio-system/edge', 'test1', 'edge')).toBe(true);
    expect(gatewayMatches('istio-system/edge', 'test1', 'test1/edge')).toBe(false);
    expect(gatewayMatches('mesh', 'test1', 'mesh')).toBe(true);
    expect(gatewayMatches('edge', 'test1', 'mesh')).toBe(false);
  });
});

describe('selectVirtualService', () => {
  const edge = virtualService([route([to('v1', undefined, 'svc-a')])], {
    name: 'edge',
    hosts: ['*'],
    gateways: ['demo-gateway'],
  });
  const reviews = virtualService([route([to('v1')])], { name: 'reviews', hosts: ['reviews'] });
  const wildcard = virtualService([route([to('v1')])], { name: 'wild', hosts: ['*.svc.cluster.local'] });
  const delegate = virtualService([route([to('v1')])], { name: 'delegate', hosts: [] });

  it('picks the most specific host bound at the request gateway', () => {
    const all = [edge, reviews, wildcard, delegate];
    expect(selectVirtualService(all, { host: 'reviews' })).toMatchObject({
      ok: true,
      value: { metadata: { name: 'reviews' } },
    });
    expect(selectVirtualService(all, { host: 'ratings' })).toMatchObject({
      ok: true,
      value: { metadata: { name: 'wild' } },
    });
    expect(selectVirtualService(all, { host: 'anything.example', gateway: 'demo-gateway' })).toMatchObject({
      ok: true,
      value: { metadata: { name: 'edge' } },
    });
  });

  it('says when nothing binds the host, and when several bind it equally', () => {
    expect(selectVirtualService([edge], { host: 'reviews' })).toMatchObject({ ok: false, reason: 'unbound' });
    const twin = virtualService([route([to('v2')])], { name: 'reviews-2', hosts: ['reviews'] });
    const both = selectVirtualService([reviews, twin], { host: 'reviews' });
    expect(both).toMatchObject({ ok: false, reason: 'ambiguous' });
    expect(!both.ok && both.message).toContain('default/reviews, default/reviews-2');
  });
});
