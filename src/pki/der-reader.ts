// A strict DER TLV reader for the hot paths only (csr-fast.ts, the CRL reader). It accepts exactly DER's
// shapes — one-byte tags, definite minimal lengths, bounds inside the parent — and answers
// `null` to anything else, so the caller falls back to the library's full parser. Nothing here
// decides what a structure means.

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first value byte. */
  body: number;
  /** Offset just past the value. */
  end: number;
}

/** The TLV at `pos`, which must end at or before `limit`; null when not strict DER. */
export function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv | null {
  if (pos + 2 > limit) return null;
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) return null; // multi-byte tags never occur in what we read
  let len = buf[pos + 1]!;
  let body = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || body + n > limit) return null; // indefinite, or > 4 GB
    if (buf[body] === 0) return null; // not minimal
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[body + i]!;
    if (len < 0x80) return null; // long form where the short one fits
    body += n;
  }
  const end = body + len;
  if (end > limit) return null;
  return { tag, start: pos, body, end };
}

/** The children of a constructed TLV, which must exactly fill it; null otherwise. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] | null {
  if ((parent.tag & 0x20) === 0) return null;
  const out: Tlv[] = [];
  let pos = parent.body;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    if (!t) return null;
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** The value bytes of `t` as 7-bit ASCII, or null if any byte is outside it. */
export function asciiValue(buf: Uint8Array, t: Tlv): string | null {
  for (let i = t.body; i < t.end; i++) if (buf[i]! > 0x7f) return null;
  return Buffer.from(buf.buffer, buf.byteOffset + t.body, t.end - t.body).toString('latin1');
}

/** True when `t`'s value bytes equal `expected` (an encoded OID body, say). */
export function valueEquals(buf: Uint8Array, t: Tlv, expected: Uint8Array): boolean {
  if (t.end - t.body !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (buf[t.body + i] !== expected[i]) return false;
  return true;
}

/**
 * The extnValue bytes of the extension `oidBody` in a DER certificate: the value, null when the
 * certificate certainly has no such extension, undefined when its shape is not one this reads
 * (the caller then asks the library).
 */
export function findExtensionValue(cert: Uint8Array, oidBody: Uint8Array): Uint8Array | null | undefined {
  const top = readTlv(cert, 0, cert.length);
  const parts = top && top.tag === 0x30 ? children(cert, top) : null;
  const fields = parts && parts[0]?.tag === 0x30 ? children(cert, parts[0]) : null;
  if (!fields) return undefined;
  const wrap = fields[fields.length - 1]!;
  if (wrap.tag !== 0xa3) return fields.some((f) => f.tag === 0xa3) ? undefined : null;
  const seq = children(cert, wrap);
  const exts = seq?.length === 1 && seq[0]!.tag === 0x30 ? children(cert, seq[0]!) : null;
  if (!exts) return undefined;
  for (const ext of exts) {
    const f = ext.tag === 0x30 ? children(cert, ext) : null;
    if (!f || f.length < 2 || f[0]!.tag !== 0x06) return undefined;
    if (!valueEquals(cert, f[0]!, oidBody)) continue;
    const value = f[f.length - 1]!;
    return value.tag === 0x04 ? cert.subarray(value.body, value.end) : undefined;
  }
  return null;
}

/**
 * The three parts of a signed DER object (certificate, CRL): SEQUENCE { tbs SEQUENCE,
 * algorithm SEQUENCE, signature BIT STRING with no unused bits }, spanning all of `der`.
 */
export function readSignedEnvelope(der: Uint8Array): { tbs: Tlv; alg: Tlv; sig: Tlv } | null {
  const top = readTlv(der, 0, der.length);
  if (!top || top.tag !== 0x30 || top.end !== der.length) return null;
  const outer = children(der, top);
  if (!outer || outer.length !== 3) return null;
  const [tbs, alg, sig] = outer as [Tlv, Tlv, Tlv];
  if (tbs.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03 || sig.end - sig.body < 2 || der[sig.body] !== 0) return null;
  return { tbs, alg, sig };
}
