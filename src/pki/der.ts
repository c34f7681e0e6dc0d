// A minimal DER writer and TLV reader for the hot paths only (fast-leaf.ts, csr-fast.ts, crl.ts). Everything
// else in the codebase builds ASN.1 with @peculiar/x509; test/unit/fast-leaf.test.ts holds what
// this produces byte-identical to it.
import { readTlv as readStrictTlv } from './der-reader.js';

/**
 * Tag, definite minimal length, value. One allocation per TLV, header and parts written in place:
 * a leaf's TBS is ~40 of these nested, and concatenating the parts and then the header copied
 * every level twice (bench/alloc-prof.mjs: the TBS was a sixth of what a /sign allocated).
 */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  // Four length bytes: a CRL of a million entries is ~50 MB.
  if (n >= 0x80000000) throw new RangeError('DER value too long');
  const lengthBytes = n < 0x80 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
  const out = Buffer.allocUnsafe(2 + lengthBytes + n);
  out[0] = tag;
  let at = 1;
  if (lengthBytes === 0) out[at++] = n;
  else {
    out[at++] = 0x80 | lengthBytes;
    for (let i = lengthBytes - 1; i >= 0; i--) out[at++] = (n >>> (8 * i)) & 0xff;
  }
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const seq = (...parts: Uint8Array[]): Buffer<ArrayBuffer> => tlv(0x30, ...parts);

/** A non-negative INTEGER from big-endian magnitude bytes: leading zeros dropped, 00 added if the high bit is set. */
export function uint(bytes: Uint8Array): Buffer<ArrayBuffer> {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = bytes.length ? bytes.subarray(i) : Buffer.from([0]);
  return tlv(0x02, v[0]! > 0x7f ? Buffer.concat([Buffer.from([0]), v]) : v);
}

export function smallUint(n: number): Buffer<ArrayBuffer> {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative integer: ${n}`);
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return uint(Buffer.from(hex, 'hex'));
}

export function oid(dotted: string): Buffer<ArrayBuffer> {
  const [a, b, ...more] = dotted.split('.').map(Number);
  const out: number[] = [];
  for (const arc of [a! * 40 + b!, ...more]) {
    const enc = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) enc.unshift((v & 0x7f) | 0x80);
    out.push(...enc);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, 'Z'. Years 1950–9999 only (the caller checks). */
export function time(d: Date): Buffer<ArrayBuffer> {
  const y = d.getUTCFullYear();
  const p = (v: number) => String(v).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return y < 2050 ? tlv(0x17, Buffer.from(`${p(y % 100)}${rest}`, 'latin1')) : tlv(0x18, Buffer.from(`${y}${rest}`, 'latin1'));
}

/** One TLV at `at`: its tag, where the value starts and ends; null unless DER-minimal and in bounds. */
export function readTlv(buf: Uint8Array, at: number): { tag: number; start: number; end: number } | null {
  const t = readStrictTlv(buf, at, buf.length);
  return t && { tag: t.tag, start: t.body, end: t.end };
}
