import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import {
  addressFromPrivateKey,
  addressFromPublicKey,
  createNanoTimestamps,
  signRequest,
  verifySignedRequest,
} from '../../shared/gonka/signing.js';

interface Vector {
  private_key_hex: string;
  public_key_compressed_hex: string;
  requester_address: string;
  transfer_address: string;
  timestamp_ns: string;
  body: string;
  body_sha256_hex: string;
  signature_input: string;
  signed_digest_hex: string;
  authorization_base64: string;
}

const v = JSON.parse(
  readFileSync(new URL('./fixtures/gonka-signing-vector.json', import.meta.url), 'utf8'),
) as Vector;
const ts = BigInt(v.timestamp_ns);

function signVector(body = v.body, timestampNs = ts) {
  return signRequest({
    privateKeyHex: v.private_key_hex,
    body,
    timestampNs,
    transferAddress: v.transfer_address,
  });
}

describe('Gonka request signing: the published test vector', () => {
  it('derives the compressed public key and the requester address', () => {
    const pub = secp256k1.getPublicKey(Buffer.from(v.private_key_hex, 'hex'), true);
    expect(Buffer.from(pub).toString('hex')).toBe(v.public_key_compressed_hex);
    expect(addressFromPublicKey(pub)).toBe(v.requester_address);
    expect(addressFromPrivateKey(v.private_key_hex)).toBe(v.requester_address);
    expect(addressFromPrivateKey(`0x${v.private_key_hex}`)).toBe(v.requester_address);
  });

  it('hashes the body, builds the signature input and the signed digest', () => {
    const bodyHash = createHash('sha256').update(v.body).digest('hex');
    expect(bodyHash).toBe(v.body_sha256_hex);
    const input = `${bodyHash}${v.timestamp_ns}${v.transfer_address}`;
    expect(input).toBe(v.signature_input);
    expect(createHash('sha256').update(input).digest('hex')).toBe(v.signed_digest_hex);
  });

  it('produces exactly the four headers of the vector', () => {
    expect(signVector()).toEqual({
      Authorization: v.authorization_base64,
      'X-Requester-Address': v.requester_address,
      'X-Timestamp': v.timestamp_ns,
      'X-Transfer-Address': v.transfer_address,
    });
  });

  it('signs low-S over the digest itself (no second hash)', () => {
    const sig = Buffer.from(signVector().Authorization, 'base64');
    expect(sig).toHaveLength(64);
    const pub = Buffer.from(v.public_key_compressed_hex, 'hex');
    const digest = Buffer.from(v.signed_digest_hex, 'hex');
    expect(secp256k1.verify(sig, digest, pub, { prehash: false, lowS: true })).toBe(true);
  });
});

describe('verifySignedRequest (what a node checks)', () => {
  const verify = (headers: Record<string, string>, body = v.body, now = ts) =>
    verifySignedRequest({ headers, body, now, transferAddress: v.transfer_address });

  it('accepts the vector by recovering the key from the signature', () => {
    const r = verify({ ...signVector() });
    expect(r).toMatchObject({ ok: true, requesterAddress: v.requester_address });
  });

  it('reads lower-cased header names as node:http delivers them', () => {
    const lower = Object.fromEntries(Object.entries(signVector()).map(([k, val]) => [k.toLowerCase(), val]));
    expect(verify(lower).ok).toBe(true);
  });

  it('refuses a tampered body', () => {
    const r = verify({ ...signVector() }, v.body.replace('Hello', 'Hellp'));
    expect(r).toEqual({ ok: false, reason: 'bad signature', status: 401 });
  });

  it('refuses a timestamp more than 10 s away, either way, with a real node’s 400 and words', () => {
    expect(verify({ ...signVector() }, v.body, ts + 10_000_000_001n)).toEqual({
      ok: false,
      reason: 'signature is too old',
      status: 400,
    });
    expect(verify({ ...signVector() }, v.body, ts - 10_000_000_001n)).toEqual({
      ok: false,
      reason: 'signature is in the future',
      status: 400,
    });
    expect(verify({ ...signVector() }, v.body, ts + 9_000_000_000n).ok).toBe(true);
  });

  it('takes a request naming no transfer agent as one to this node, as the official SDKs send it', () => {
    const { 'X-Transfer-Address': _none, ...headers } = signVector();
    expect(verify(headers).ok).toBe(true);
  });

  it('decodes the signature as Go’s standard base64 does: no missing padding, no URL alphabet', () => {
    const auth = signVector().Authorization;
    expect(auth).toMatch(/==$/);
    for (const laxer of [auth.replace(/=+$/, ''), Buffer.from(auth, 'base64').toString('base64url')]) {
      expect(verify({ ...signVector(), Authorization: laxer })).toMatchObject({ ok: false, status: 401 });
    }
    expect(verify({ ...signVector(), Authorization: auth }).ok).toBe(true);
  });

  it('refuses a request addressed to another node', () => {
    const r = verifySignedRequest({
      headers: { ...signVector() },
      body: v.body,
      now: ts,
      transferAddress: v.requester_address,
    });
    expect(r).toEqual({ ok: false, reason: 'X-Transfer-Address is not this node', status: 401 });
  });

  it('refuses a claimed requester address that is not the signer', () => {
    const other = addressFromPrivateKey('22'.repeat(32));
    expect(verify({ ...signVector(), 'X-Requester-Address': other }).ok).toBe(false);
  });

  it('refuses the high-S twin of a valid signature', () => {
    const sig = secp256k1.Signature.fromBytes(Buffer.from(v.authorization_base64, 'base64'), 'compact');
    const highS = new secp256k1.Signature(sig.r, secp256k1.Point.CURVE().n - sig.s).toBytes('compact');
    const r = verify({ ...signVector(), Authorization: Buffer.from(highS).toString('base64') });
    expect(r).toEqual({ ok: false, reason: 'signature is not low-S', status: 401 });
  });

  it('verifies with a remembered public key after the first recovery', () => {
    const publicKeys = new Map<string, Uint8Array>();
    const args = { body: v.body, now: ts, transferAddress: v.transfer_address, publicKeys };
    expect(verifySignedRequest({ ...args, headers: { ...signVector() } }).ok).toBe(true);
    expect(publicKeys.has(v.requester_address)).toBe(true);
    expect(verifySignedRequest({ ...args, headers: { ...signVector() } }).ok).toBe(true);
    expect(verifySignedRequest({ ...args, headers: { ...signVector() }, body: `${v.body} ` }).ok).toBe(false);
  });
});

describe('createNanoTimestamps', () => {
  it('is nanoseconds of the wall clock plus its offset, strictly increasing within one millisecond', () => {
    const next = createNanoTimestamps(() => 1_764_115_200_000, 123_456n);
    expect(next()).toBe(1_764_115_200_000_123_456n);
    expect(next()).toBe(1_764_115_200_000_123_457n);
    expect(next()).toBe(1_764_115_200_000_123_458n);
  });

  it('keeps two clocks (two processes) apart within one millisecond: a sub-millisecond random offset', () => {
    // Signing is deterministic: two processes signing one body at one timestamp send one signature,
    // and the node refuses the second as a replay.
    const offsets = new Set<bigint>();
    for (let i = 0; i < 20; i++) offsets.add(createNanoTimestamps(() => 1_764_115_200_000)() % 1_000_000n);
    expect(offsets.size).toBeGreaterThan(15);
    for (const o of offsets) expect(o).toBeLessThan(1_000_000n);
  });

  it('gives two identical bodies signed in the same millisecond different signatures', () => {
    const next = createNanoTimestamps(() => 1_764_115_200_000);
    expect(signVector(v.body, next()).Authorization).not.toBe(signVector(v.body, next()).Authorization);
  });
});
