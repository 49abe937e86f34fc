import { createSocket, type Socket } from 'node:dgram';
import { lookup, Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsLookup } from '../../shared/host-lookup.js';

/**
 * Webhook hosts are resolved over c-ares, not getaddrinfo on libuv's threadpool: a nameserver that
 * never answers (anyone may register a webhook on such a name) must not hold the threads every other
 * lookup of the process needs.
 */
let silent: Socket;
let answering: Socket;

beforeAll(async () => {
  // A "nameserver" that takes every query and never replies.
  silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  // One that answers every A query with 198.51.100.7 and every other with no records.
  answering = createSocket('udp4');
  answering.on('message', (q, from) => answering.send(dnsAnswer(q), from.port, from.address));
  await new Promise<void>((resolve) => answering.bind(0, '127.0.0.1', resolve));
});
afterAll(() => {
  silent.close();
  answering.close();
});

const via = (socket: Socket, opts: { timeout: number; tries: number }) => {
  const resolver = new Resolver(opts);
  resolver.setServers([`127.0.0.1:${socket.address().port}`]);
  return dnsLookup(resolver);
};

describe('webhook host lookup', () => {
  it('gives every address DNS has for a name, an IP literal as itself', async () => {
    const find = via(answering, { timeout: 1000, tries: 1 });
    expect(await find('hooks.example.test')).toEqual([{ address: '198.51.100.7', family: 4 }]);
    expect(await find('2001:db8::1')).toEqual([{ address: '2001:db8::1', family: 6 }]);
    expect(await find('203.0.113.9')).toEqual([{ address: '203.0.113.9', family: 4 }]);
  });

  it('leaves the system resolver free while many lookups wait on a silent nameserver', async () => {
    const find = via(silent, { timeout: 300, tries: 1 });
    const stuck = Array.from({ length: 16 }, (_, i) =>
      find(`h${i}.silent.test`).then(
        () => 'resolved',
        (err: NodeJS.ErrnoException) => err.code,
      ),
    );
    let stuckSettled = 0;
    for (const s of stuck) void s.then(() => stuckSettled++);
    // getaddrinfo (the threadpool) answers while every one of them is still waiting.
    expect((await lookup('localhost', { all: true })).length).toBeGreaterThan(0);
    expect(stuckSettled).toBe(0);
    // And they end by themselves, as DNS timeouts.
    expect(new Set(await Promise.all(stuck))).toEqual(new Set(['ETIMEOUT']));
  });
});

/** A reply to a DNS query: its question, and for type A one answer 198.51.100.7 (else none). */
function dnsAnswer(query: Buffer): Buffer {
  let end = 12;
  while (query[end] !== 0) end += query[end]! + 1;
  const question = query.subarray(12, end + 5);
  const isA = query.readUInt16BE(end + 1) === 1;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // the id
  header.writeUInt16BE(0x8180, 2); // a response, recursion available, no error
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(isA ? 1 : 0, 6);
  const answer = isA
    ? Buffer.concat([
        Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]),
        Buffer.from([198, 51, 100, 7]),
      ])
    : Buffer.alloc(0);
  return Buffer.concat([header, question, answer]);
}
