import { createHash, randomInt } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { bech32 } from '@scure/base';

/**
 * Gonka's signed-request scheme (DESIGN.md "Gonka nodes"): the requester signs
 * sha256( hex(sha256(body)) + timestamp_ns + transfer_address ) with secp256k1 (RFC 6979, low-S)
 * and sends the 64-byte r‖s in base64 as `Authorization`.
 */

export const ADDRESS_PREFIX = 'gonka';
/** Nodes refuse timestamps further than this from their own clock. */
export const DEFAULT_MAX_SKEW_NS = 10_000_000_000n;

export interface SignedHeaders {
  Authorization: string;
  'X-Requester-Address': string;
  'X-Timestamp': string;
  'X-Transfer-Address': string;
}

// node:crypto's native sha256 is several times faster than a JS one on request-sized bodies.
function sha256(data: string | Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

/** The bytes that are actually signed: sha256 of the signature input. */
function signedDigest(body: string | Uint8Array, timestampNs: bigint, transferAddress: string): Uint8Array {
  const bodyHashHex = createHash('sha256').update(body).digest('hex');
  return sha256(`${bodyHashHex}${timestampNs}${transferAddress}`);
}

/** bech32('gonka', ripemd160(sha256(compressed public key))), the Cosmos account address. */
export function addressFromPublicKey(compressedPubKey: Uint8Array): string {
  return bech32.encode(ADDRESS_PREFIX, bech32.toWords(ripemd160(sha256(compressedPubKey))));
}

interface KeyMaterial {
  secret: Uint8Array;
  address: string;
}

// Deriving the public key is a scalar multiplication; a gateway signs with one key for its whole
// life, so derive once per key rather than once per request.
const keyCache = new Map<string, KeyMaterial>();

function keyMaterial(privateKeyHex: string): KeyMaterial {
  let km = keyCache.get(privateKeyHex);
  if (!km) {
    const secret = Uint8Array.from(Buffer.from(privateKeyHex.replace(/^0x/, ''), 'hex'));
    if (secret.length !== 32) throw new Error('private key must be 32 bytes of hex');
    km = { secret, address: addressFromPublicKey(secp256k1.getPublicKey(secret, true)) };
    keyCache.set(privateKeyHex, km);
  }
  return km;
}

export function addressFromPrivateKey(privateKeyHex: string): string {
  return keyMaterial(privateKeyHex).address;
}

export function signRequest(args: {
  privateKeyHex: string;
  body: string;
  timestampNs: bigint;
  transferAddress: string;
}): SignedHeaders {
  const km = keyMaterial(args.privateKeyHex);
  const digest = signedDigest(args.body, args.timestampNs, args.transferAddress);
  // prehash:false because the digest above is the message; noble must not hash it again.
  const sig = secp256k1.sign(digest, km.secret, { prehash: false, lowS: true });
  return {
    Authorization: Buffer.from(sig).toString('base64'),
    'X-Requester-Address': km.address,
    'X-Timestamp': args.timestampNs.toString(),
    'X-Transfer-Address': args.transferAddress,
  };
}

/**
 * A strictly increasing nanosecond clock: wall time in ms × 10⁶ plus a per-clock offset below a
 * millisecond, bumped by 1 ns when two calls land in the same instant, so two identical bodies never
 * yield the same signature (signing is deterministic, RFC 6979, and nodes refuse a reused one). The
 * random offset keeps two processes (api and workers, or two apis) apart too: without it both sign
 * a health check's identical body in the same millisecond to the same bytes, and the node refuses
 * the second as a replay (the official SDK adds hrtime's nanoseconds for the same reason).
 */
export function createNanoTimestamps(
  nowMs: () => number = Date.now,
  offsetNs: bigint = BigInt(randomInt(1_000_000)),
): () => bigint {
  let last = 0n;
  return () => {
    const t = BigInt(nowMs()) * 1_000_000n + offsetNs;
    last = t > last ? t : last + 1n;
    return last;
  };
}

export type HeaderBag = Record<string, string | string[] | undefined>;

/**
 * A refusal carries the status a real node answers with (decentralized-api post_chat_handler): 401
 * for a signature it cannot verify, 400 for a timestamp outside its window (validateRequest).
 */
export type VerifyResult =
  | { ok: true; requesterAddress: string; signatureHex: string }
  | { ok: false; reason: string; status: 400 | 401 };

/** 64 bytes in standard, padded base64, as Go's base64.StdEncoding decodes it (nothing laxer). */
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{86}==$/;

function header(h: HeaderBag, name: string): string | undefined {
  const v = h[name.toLowerCase()] ?? h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * What a node checks. The requester address is a hash, so the public key is recovered from the
 * signature (both recovery bits) and accepted when it hashes to X-Requester-Address. Pass a
 * `publicKeys` map to remember recovered keys: later requests then cost one verify, not two recoveries.
 * `signatureHex` (canonical r‖s) is what a replay cache should key on.
 */
export function verifySignedRequest(args: {
  headers: HeaderBag;
  body: string | Uint8Array;
  now: bigint;
  transferAddress: string;
  maxSkewNs?: bigint;
  publicKeys?: Map<string, Uint8Array>;
}): VerifyResult {
  const auth = header(args.headers, 'Authorization');
  const requester = header(args.headers, 'X-Requester-Address');
  const tsRaw = header(args.headers, 'X-Timestamp');
  // A request naming no transfer agent is one to this node (readRequest): what the official SDKs send.
  const transfer = header(args.headers, 'X-Transfer-Address') ?? args.transferAddress;
  if (!auth) return { ok: false, reason: 'Authorization is required', status: 401 };
  if (!requester || !tsRaw) return { ok: false, reason: 'missing signature headers', status: 401 };
  if (!/^\d{1,30}$/.test(tsRaw))
    return { ok: false, reason: 'X-Timestamp must be Unix nanoseconds', status: 400 };
  const ts = BigInt(tsRaw);
  const skew = args.maxSkewNs ?? DEFAULT_MAX_SKEW_NS;
  if (ts < args.now - skew) return { ok: false, reason: 'signature is too old', status: 400 };
  if (ts > args.now + skew) return { ok: false, reason: 'signature is in the future', status: 400 };
  if (transfer !== args.transferAddress)
    return { ok: false, reason: 'X-Transfer-Address is not this node', status: 401 };

  if (!SIGNATURE_BASE64.test(auth))
    return { ok: false, reason: 'signature must be 64 bytes in base64', status: 401 };
  const sigBytes = Uint8Array.from(Buffer.from(auth, 'base64'));
  let sig: ReturnType<typeof secp256k1.Signature.fromBytes>;
  try {
    sig = secp256k1.Signature.fromBytes(sigBytes, 'compact');
  } catch {
    return { ok: false, reason: 'malformed signature', status: 401 };
  }
  // A high-S twin is the same signature under another encoding: refusing it keeps replay checks sound.
  if (sig.hasHighS()) return { ok: false, reason: 'signature is not low-S', status: 401 };
  const digest = signedDigest(args.body, ts, transfer);
  const signatureHex = Buffer.from(sigBytes).toString('hex');

  const known = args.publicKeys?.get(requester);
  if (known) {
    return secp256k1.verify(sigBytes, digest, known, { prehash: false })
      ? { ok: true, requesterAddress: requester, signatureHex }
      : { ok: false, reason: 'bad signature', status: 401 };
  }
  for (const bit of [0, 1]) {
    let pub: Uint8Array;
    try {
      pub = sig.addRecoveryBit(bit).recoverPublicKey(digest).toBytes(true);
    } catch {
      continue;
    }
    if (addressFromPublicKey(pub) === requester) {
      args.publicKeys?.set(requester, pub);
      return { ok: true, requesterAddress: requester, signatureHex };
    }
  }
  return { ok: false, reason: 'bad signature', status: 401 };
}
