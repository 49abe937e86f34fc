import { describe, expect, it } from 'vitest';
import {
  classifyAddress,
  LookupTimeoutError,
  RefusedAddressError,
  resolveVetted,
} from '../../shared/webhooks/ssrf.js';

describe('webhook SSRF guard: address classifier', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.0.170', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
  ])('refuses IPv4 %s (%s)', (ip, range) => {
    expect(classifyAddress(ip)).toBe(range);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '169.253.0.1',
    '192.167.1.1',
    '11.0.0.1',
    '192.0.1.1',
    '198.17.255.255',
    '198.20.0.0',
    '203.0.114.1',
  ])('allows public IPv4 %s', (ip) => {
    expect(classifyAddress(ip)).toBeNull();
  });

  it.each([
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['fec0::1', 'private'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['100::1', 'reserved'],
  ])('refuses IPv6 %s (%s)', (ip, range) => {
    expect(classifyAddress(ip)).toBe(range);
  });

  it.each(['2001:4860:4860::8888', '2606:4700:4700::1111', '2a00:1450::1'])('allows public IPv6 %s', (ip) => {
    expect(classifyAddress(ip)).toBeNull();
  });

  it.each([
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:100.64.0.1', 'cgnat'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'private'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['::ffff:0:7f00:1', 'loopback'],
    ['::ffff:0:10.0.0.1', 'private'],
    ['64:ff9b:1::a00:1', 'private'],
  ])('judges the IPv4 inside an IPv6 address: %s (%s)', (ip, range) => {
    expect(classifyAddress(ip)).toBe(range);
  });

  it('allows a public IPv4 inside IPv4-mapped IPv6', () => {
    expect(classifyAddress('::ffff:8.8.8.8')).toBeNull();
    expect(classifyAddress('64:ff9b::1.1.1.1')).toBeNull();
    expect(classifyAddress('::ffff:0:8.8.8.8')).toBeNull();
  });

  it('refuses the whole local-use NAT64 prefix, wherever a translator put the IPv4 in it', () => {
    // A /48 translator puts 10.0.0.1 here; read as the /96 form it looks like 8.8.8.8.
    expect(classifyAddress('64:ff9b:1:a00:0:100:808:808')).toBe('private');
    expect(classifyAddress('64:ff9b:1::8.8.8.8')).toBe('private');
  });

  it('throws on something that is not an IP address', () => {
    expect(() => classifyAddress('example.com')).toThrow(/not an IP/);
  });
});

describe('webhook SSRF guard: resolution', () => {
  it('refuses a name or literal that resolves to a private address', async () => {
    await expect(resolveVetted('localhost', false)).rejects.toBeInstanceOf(RefusedAddressError);
    await expect(resolveVetted('127.0.0.1', false)).rejects.toThrow(/loopback/);
    await expect(resolveVetted('[::1]', false)).rejects.toThrow(/loopback/);
    await expect(resolveVetted('10.1.2.3', false)).rejects.toThrow(/private/);
  });

  it('keeps the resolved address out of the error message', async () => {
    const err = await resolveVetted('10.1.2.3', false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedAddressError);
    expect((err as RefusedAddressError).address).toBe('10.1.2.3');
    expect((err as Error).message).toBe(
      '10.1.2.3 resolves to a private address, which webhooks may not reach',
    );
  });

  it('gives up on a lookup that takes longer than its bound', async () => {
    const silent = () => new Promise<never>(() => {});
    const err = await resolveVetted('hooks.test', false, { lookup: silent, timeoutMs: 20 }).catch((e) => e);
    expect(err).toBeInstanceOf(LookupTimeoutError);
    expect(err.message).toBe('looking up hooks.test timed out after 20 ms');
  });

  it('returns the vetted address to connect to', async () => {
    expect(await resolveVetted('127.0.0.1', true)).toEqual({ address: '127.0.0.1', family: 4 });
    expect(await resolveVetted('[::1]', true)).toEqual({ address: '::1', family: 6 });
    expect(await resolveVetted('93.184.215.14', false)).toEqual({ address: '93.184.215.14', family: 4 });
  });
});
