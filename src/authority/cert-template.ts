// step-ca certificate templates per provisioner (`options.x509.template|templateFile|templateData`):
// loaded and parsed at start-up (a syntax error stops it, naming file and line), rendered per
// request into step-ca's certificate JSON, checked (no CA certificates, no certificate without a
// name) and turned into the fields the templated leaf builder signs. Only provisioners with a
// template come here: the default leaf keeps its fast path (fast-leaf.ts).
import { readFileSync } from 'node:fs';
import * as asn1js from 'asn1js';
import { isIP } from 'node:net';
import { badRequest } from '../errors.js';
import type { ProvisionerConfig } from '../config/schema.js';
import { canonicalIp, classifySan, orderSans, type San } from '../pki/names.js';
import { GO_TYPE, GoTemplate, TemplateRunError, TemplateSyntaxError, truthy, type FuncMap } from './go-template.js';

// ---------- template data, shaped as step-ca's Go values ----------

const SUBJECT_FIELDS: [goName: string, json: string, oid: string][] = [
  ['Country', 'country', '2.5.4.6'],
  ['Organization', 'organization', '2.5.4.10'],
  ['OrganizationalUnit', 'organizationalUnit', '2.5.4.11'],
  ['Locality', 'locality', '2.5.4.7'],
  ['Province', 'province', '2.5.4.8'],
  ['StreetAddress', 'streetAddress', '2.5.4.9'],
  ['PostalCode', 'postalCode', '2.5.4.17'],
];
const SHORT: Record<string, string> = { C: '2.5.4.6', O: '2.5.4.10', OU: '2.5.4.11', L: '2.5.4.7', ST: '2.5.4.8', CN: '2.5.4.3' };

/** x509util.Subject: Go field names for templates, json names (omitempty) for toJson. */
export class GoSubject {
  Country: string[] = [];
  Organization: string[] = [];
  OrganizationalUnit: string[] = [];
  Locality: string[] = [];
  Province: string[] = [];
  StreetAddress: string[] = [];
  PostalCode: string[] = [];
  SerialNumber = '';
  CommonName = '';

  static ofCommonName(cn: string): GoSubject {
    const s = new GoSubject();
    s.CommonName = cn;
    return s;
  }

  /** From @peculiar/x509's Name.toJSON() of a CSR subject. */
  static ofJsonName(name: Record<string, string[]>[]): GoSubject {
    const s = new GoSubject();
    for (const rdn of name) {
      for (const [type, values] of Object.entries(rdn)) {
        const oid = SHORT[type] ?? type;
        if (oid === '2.5.4.3') s.CommonName = values[0] ?? '';
        else if (oid === '2.5.4.5') s.SerialNumber = values[0] ?? '';
        else {
          const f = SUBJECT_FIELDS.find((x) => x[2] === oid);
          if (f) (s[f[0] as keyof GoSubject] as string[]).push(...values);
        }
      }
    }
    return s;
  }

  toJSON(): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (const [go, json] of SUBJECT_FIELDS) {
      const v = this[go as keyof GoSubject] as string[];
      if (v.length) o[json] = v;
    }
    if (this.SerialNumber) o.serialNumber = this.SerialNumber;
    if (this.CommonName) o.commonName = this.CommonName;
    return o;
  }
}

export class GoSan {
  constructor(readonly Type: string, readonly Value: string) {}
  toJSON() { return { type: this.Type, value: this.Value }; }
}

/** The CSR as x509util.CertificateRequest shows it to templates (.Insecure.CR). */
export class GoCertificateRequest {
  constructor(
    readonly Subject: GoSubject,
    readonly DNSNames: string[],
    readonly EmailAddresses: string[],
    readonly IPAddresses: string[],
    readonly URIs: string[],
    readonly PublicKey: { [GO_TYPE]: string; Size?: number },
  ) {}

  toJSON() {
    return { subject: this.Subject, dnsNames: this.DNSNames, emailAddresses: this.EmailAddresses, ipAddresses: this.IPAddresses, uris: this.URIs };
  }
}

export const sanOf = (s: San) => new GoSan(s.type === 'url' ? 'uri' : s.type, s.value);

// ---------- functions: Go's builtins and the Sprig ones the documented templates use ----------

const str = (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : String(v));
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : (() => { throw new TemplateRunError(`${JSON.stringify(v)} is not a list`); })());
const eq = (a: unknown, b: unknown) => (a === undefined ? null : a) === (b === undefined ? null : b);

function printf(format: unknown, ...args: unknown[]): string {
  let i = 0;
  return str(format).replace(/%([svdq%])/g, (_, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (verb === 'q') return JSON.stringify(str(a));
    if (verb === 'd') return String(Math.trunc(Number(a)));
    return typeof a === 'string' ? a : a === undefined ? '%!v(MISSING)' : JSON.stringify(a);
  });
}

// ---------- step's ASN.1 functions (x509util's asn1Enc, asn1Marshal, asn1Seq, asn1Set) ----------

const GO_PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?*&]*$/;
const b64 = (v: asn1js.BaseBlock) => Buffer.from(v.toBER()).toString('base64');

function asn1Time(value: string, type: 'utc' | 'generalized'): asn1js.BaseBlock {
  // RFC 3339, or Go's Time.String() layout ("2006-01-02 15:04:05.999999999 -0700 MST").
  const go = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ([+-]\d{2})(\d{2})(?: \S+)?$/.exec(value);
  const d = new Date(go ? `${go[1]}T${go[2]}${go[3]}:${go[4]}` : value);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}[T ]/.test(value)) throw new TemplateRunError(`invalid ${type} value`);
  return type === 'utc' ? new asn1js.UTCTime({ valueDate: d }) : new asn1js.GeneralizedTime({ valueDate: d });
}

/** One value as x509util's marshalValue types it: printable (default), utf8, ia5, numeric, int, oid, utc, generalized, bool, raw. */
function asn1Value(value: string, type: string): asn1js.BaseBlock | Buffer {
  switch (type) {
    case 'int':
      if (!/^[+-]?\d+$/.test(value)) throw new TemplateRunError('invalid int value');
      return asn1js.Integer.fromBigInt(BigInt(value));
    case 'oid':
      if (!OID.test(value)) throw new TemplateRunError('invalid oid value');
      return new asn1js.ObjectIdentifier({ value });
    case 'raw':
      return Buffer.from(value, 'base64');
    case 'utf8':
      return new asn1js.Utf8String({ value });
    case 'ia5':
      if (!/^[\x00-\x7f]*$/.test(value)) throw new TemplateRunError('invalid ia5 value');
      return new asn1js.IA5String({ value });
    case 'numeric':
      if (!/^[0-9 ]*$/.test(value)) throw new TemplateRunError('invalid numeric value');
      return new asn1js.NumericString({ value });
    case 'utc':
    case 'generalized':
      return asn1Time(value, type);
    case 'bool':
    case 'boolean':
      if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(value)) throw new TemplateRunError('invalid bool value');
      return new asn1js.Boolean({ value: /^(1|t|T|TRUE|true|True)$/.test(value) });
    default:
      if (!GO_PRINTABLE.test(value)) throw new TemplateRunError('invalid printable value');
      return new asn1js.PrintableString({ value });
  }
}

const encoded = (v: asn1js.BaseBlock | Buffer) => (Buffer.isBuffer(v) ? v.toString('base64') : b64(v));

/** asn1Seq / asn1Set: the Base64 DER values given, wrapped as they are. */
function asn1Collection(kind: 'SEQUENCE' | 'SET', items: unknown[]): string {
  const parsed = items.map((i) => {
    const der = Buffer.from(str(i), 'base64');
    const r = asn1js.fromBER(der);
    if (r.offset !== der.length || r.offset <= 0) throw new TemplateRunError(`${kind} item ${JSON.stringify(str(i))} is not one Base64 DER value`);
    return r.result;
  });
  return b64(kind === 'SEQUENCE' ? new asn1js.Sequence({ value: parsed }) : new asn1js.Set({ value: parsed }));
}

const ASN1_FUNCS: FuncMap = {
  asn1Enc: (v) => {
    const text = str(v);
    const i = text.indexOf(':');
    return encoded(i === -1 ? asn1Value(text, 'printable') : asn1Value(text.slice(i + 1), text.slice(0, i)));
  },
  // Go's asn1.MarshalWithParams for the values templates hold: strings, numbers, booleans.
  asn1Marshal: (v, ...params) => {
    const p = params.map(str).join(',').split(',').filter(Boolean);
    const unsupported = p.find((x) => !['utf8', 'ia5', 'printable', 'numeric', 'utc', 'generalized'].includes(x));
    if (unsupported) throw new TemplateRunError(`asn1Marshal parameter "${unsupported}" is not supported`);
    if (typeof v === 'boolean') return encoded(new asn1js.Boolean({ value: v }));
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new TemplateRunError(`${v} is not an integer`);
      return encoded(asn1js.Integer.fromBigInt(BigInt(v)));
    }
    if (typeof v !== 'string') throw new TemplateRunError('asn1Marshal takes a string, a number or a boolean');
    // Go picks PrintableString when it fits (without '*' and '&' here), else UTF8String.
    const type = p[0] ?? (GO_PRINTABLE.test(v) && !/[*&]/.test(v) ? 'printable' : 'utf8');
    return encoded(asn1Value(v, type));
  },
  asn1Seq: (...items) => asn1Collection('SEQUENCE', items),
  asn1Set: (...items) => asn1Collection('SET', items),
};

export const TEMPLATE_FUNCS: FuncMap = {
  ...ASN1_FUNCS,
  toJson: (v) => JSON.stringify(v === undefined ? null : v),
  toRawJson: (v) => JSON.stringify(v === undefined ? null : v),
  toPrettyJson: (v) => JSON.stringify(v === undefined ? null : v, null, 2),
  typeIs: (t, v) => (v !== null && typeof v === 'object' && GO_TYPE in v ? (v as { [GO_TYPE]: string })[GO_TYPE] === t : false),
  default: (d, v) => (truthy(v) ? v : d),
  empty: (v) => !truthy(v),
  coalesce: (...vs) => vs.find(truthy) ?? null,
  required: (msg, v) => { if (!truthy(v)) throw new TemplateRunError(str(msg)); return v; },
  fail: (msg) => { throw new TemplateRunError(str(msg)); },
  first: (v) => list(v)[0] ?? null,
  last: (v) => list(v).at(-1) ?? null,
  list: (...vs) => vs,
  dict: (...kv) => Object.fromEntries(Array.from({ length: Math.floor(kv.length / 2) }, (_, i) => [str(kv[2 * i]), kv[2 * i + 1]])),
  has: (needle, l) => list(l).some((x) => eq(x, needle)),
  concat: (...ls) => ls.flatMap(list),
  uniq: (l) => list(l).filter((x, i, all) => all.findIndex((y) => eq(x, y)) === i),
  append: (l, v) => [...list(l), v],
  compact: (l) => list(l).filter(truthy),
  hasKey: (m, k) => m !== null && typeof m === 'object' && Object.prototype.hasOwnProperty.call(m, str(k)),
  keys: (...ms) => ms.flatMap((m) => (m && typeof m === 'object' ? Object.keys(m) : [])).sort(),
  ternary: (a, b, cond) => (cond === true ? a : b),
  splitList: (sep, s) => str(s).split(str(sep)),
  join: (sep, l) => list(l).map(str).join(str(sep)),
  lower: (s) => str(s).toLowerCase(),
  upper: (s) => str(s).toUpperCase(),
  trim: (s) => str(s).trim(),
  trimPrefix: (p, s) => (str(s).startsWith(str(p)) ? str(s).slice(str(p).length) : str(s)),
  trimSuffix: (p, s) => (str(s).endsWith(str(p)) && str(p) ? str(s).slice(0, -str(p).length) : str(s)),
  hasPrefix: (p, s) => str(s).startsWith(str(p)),
  hasSuffix: (p, s) => str(s).endsWith(str(p)),
  contains: (sub, s) => str(s).includes(str(sub)),
  replace: (a, b, s) => str(s).split(str(a)).join(str(b)),
  quote: (...vs) => vs.map((v) => JSON.stringify(str(v))).join(' '),
  squote: (...vs) => vs.map((v) => `'${str(v)}'`).join(' '),
  toString: (v: unknown) => str(v),
  b64enc: (s) => Buffer.from(str(s)).toString('base64'),
  b64dec: (s) => Buffer.from(str(s), 'base64').toString('utf8'),
  printf,
  print: (...vs) => vs.map(str).join(''),
  len: (v) => (typeof v === 'string' || Array.isArray(v) ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  index: (v, ...keys) => keys.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[str(k)] : undefined), v) ?? null,
  eq: (a, ...bs) => bs.some((b) => eq(a, b)),
  ne: (a, b) => !eq(a, b),
  lt: (a, b) => Number(a) < Number(b),
  le: (a, b) => Number(a) <= Number(b),
  gt: (a, b) => Number(a) > Number(b),
  ge: (a, b) => Number(a) >= Number(b),
  and: (...vs) => vs.find((v) => !truthy(v)) ?? vs.at(-1),
  or: (...vs) => vs.find(truthy) ?? vs.at(-1),
  not: (v) => !truthy(v),
};

// ---------- loading ----------

export class TemplateConfigError extends Error {}

/** step-ca accepts an inline template as JSON text or as its Base64. */
function inlineText(t: string): string {
  const compact = t.replace(/\s+/g, '');
  if (compact.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(compact) && !t.includes('{{')) {
    const decoded = Buffer.from(compact, 'base64').toString('utf8');
    if (decoded.includes('{{') || decoded.trim().startsWith('{')) return decoded;
  }
  return t;
}

interface X509Options { template?: unknown; templateFile?: unknown; templateData?: unknown }

export class CertTemplate {
  private constructor(private readonly tpl: GoTemplate, readonly source: string, private readonly data: Record<string, unknown>) {}

  /** The provisioner's template, or null when it has none (the default leaf, on the fast path). */
  static load(p: ProvisionerConfig, index: number, resolvePath: (p: string) => string): CertTemplate | null {
    const x = (p.options as { x509?: X509Options } | undefined)?.x509;
    if (!x) return null;
    const where = `authority.provisioners[${index}].options.x509`;
    if (x.templateData !== undefined && (x.templateData === null || typeof x.templateData !== 'object' || Array.isArray(x.templateData))) {
      throw new TemplateConfigError(`config: ${where}.templateData: must be a JSON object`);
    }
    const data = (x.templateData ?? {}) as Record<string, unknown>;
    let text: string;
    let source: string;
    if (x.template !== undefined && x.templateFile !== undefined) throw new TemplateConfigError(`config: ${where}: set template or templateFile, not both`);
    if (typeof x.template === 'string' && x.template !== '') {
      text = inlineText(x.template);
      source = `${where}.template`;
    } else if (typeof x.templateFile === 'string' && x.templateFile !== '') {
      source = resolvePath(x.templateFile);
      try {
        text = readFileSync(source, 'utf8');
      } catch (e) {
        throw new TemplateConfigError(`config: ${where}.templateFile: cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    } else if (x.template !== undefined || x.templateFile !== undefined) {
      throw new TemplateConfigError(`config: ${where}: template and templateFile must be non-empty strings`);
    } else {
      if (x.templateData !== undefined) throw new TemplateConfigError(`config: ${where}.templateData is set but there is no template to use it`);
      return null;
    }
    try {
      return new CertTemplate(new GoTemplate(text, TEMPLATE_FUNCS), source, data);
    } catch (e) {
      if (e instanceof TemplateSyntaxError) throw new TemplateConfigError(`template ${source}:${e.line}: ${e.message.replace(/^line \d+: /, '')}`);
      throw e;
    }
  }

  /** Renders for one request; every failure is the request's (400), naming the template. */
  render(input: { subject: GoSubject; sans: GoSan[]; token: unknown; cr: GoCertificateRequest; user: Record<string, unknown> }): TemplatedLeaf {
    // Built-in names win over templateData keys, so configuration cannot shadow .Token or .SANs.
    const data = { ...this.data, Subject: input.subject, SANs: input.sans, Token: input.token, Insecure: { CR: input.cr, User: input.user } };
    let json: string;
    try {
      json = this.tpl.execute(data);
    } catch (e) {
      if (e instanceof TemplateRunError) throw badRequest(`template ${this.source}: ${e.message}`);
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (e) {
      throw badRequest(`template ${this.source} did not produce JSON: ${(e as Error).message}`);
    }
    return checkTemplateOutput(parsed, this.source);
  }
}

// ---------- the rendered certificate ----------

export interface TemplatedLeaf {
  subject: { oid: string; values: string[] }[];
  commonName: string;
  sans: San[];
  keyUsage: string[] | null;
  extKeyUsage: string[] | null;
  unknownExtKeyUsage: string[];
  basicConstraints: { isCA: false } | null;
  ocspServer: string[] | null;
  issuingCertificateURL: string[];
  crlDistributionPoints: string[] | null;
  policyIdentifiers: string[];
  extensions: { id: string; critical: boolean; value: Buffer }[];
}

/** Fields the CA sets itself whatever the template says (as step-ca does). */
const CA_SET = new Set(['version', 'serialNumber', 'notBefore', 'notAfter', 'issuer', 'signatureAlgorithm', 'subjectKeyId', 'authorityKeyId', 'publicKey', 'publicKeyAlgorithm']);
const KNOWN = new Set(['subject', 'sans', 'dnsNames', 'emailAddresses', 'ipAddresses', 'uris', 'keyUsage', 'extKeyUsage', 'unknownExtKeyUsage',
  'basicConstraints', 'ocspServer', 'issuingCertificateURL', 'crlDistributionPoints', 'policyIdentifiers', 'extensions']);

export const KEY_USAGES = ['digitalSignature', 'contentCommitment', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'certSign', 'crlSign', 'encipherOnly', 'decipherOnly'] as const;
export const EXT_KEY_USAGES: Record<string, string> = {
  any: '2.5.29.37.0', serverauth: '1.3.6.1.5.5.7.3.1', clientauth: '1.3.6.1.5.5.7.3.2', codesigning: '1.3.6.1.5.5.7.3.3',
  emailprotection: '1.3.6.1.5.5.7.3.4', ipsecendsystem: '1.3.6.1.5.5.7.3.5', ipsectunnel: '1.3.6.1.5.5.7.3.6', ipsecuser: '1.3.6.1.5.5.7.3.7',
  timestamping: '1.3.6.1.5.5.7.3.8', ocspsigning: '1.3.6.1.5.5.7.3.9',
};
const OID = /^\d+(\.\d+)+$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Extensions a template may not write raw: the CA decides these, and some would make a CA. */
const RESERVED_EXTENSIONS: Record<string, string> = {
  '2.5.29.19': 'basicConstraints', '2.5.29.30': 'nameConstraints', '2.5.29.15': 'keyUsage', '2.5.29.37': 'extKeyUsage', '2.5.29.17': 'subjectAltName',
  '2.5.29.14': 'subjectKeyIdentifier', '2.5.29.35': 'authorityKeyIdentifier', '1.3.6.1.4.1.37476.9000.64.1': 'the step provisioner extension',
};

function multi(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw badRequest(`${where} must be a string or a list of strings`);
}

function checkTemplateOutput(out: unknown, source: string): TemplatedLeaf {
  const bad = (msg: string) => badRequest(`template ${source}: ${msg}`);
  if (!out || typeof out !== 'object' || Array.isArray(out)) throw bad('did not produce a JSON object');
  const o = out as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k) && !CA_SET.has(k)) throw bad(`"${k}" is not supported (Stepstone supports ${[...KNOWN].join(', ')})`);
  }
  const bc = o.basicConstraints as { isCA?: unknown; maxPathLen?: unknown } | undefined | null;
  if (bc && bc.isCA === true) throw bad('would make a CA certificate (basicConstraints.isCA); this CA issues leaf certificates only');
  const keyUsage = o.keyUsage === undefined ? null : multi(o.keyUsage, 'keyUsage').map((u) => {
    const k = KEY_USAGES.find((x) => x.toLowerCase() === u.toLowerCase());
    if (!k) throw bad(`unknown keyUsage "${u}"`);
    if (k === 'certSign' || k === 'crlSign') throw bad(`would make a CA certificate (keyUsage ${k}); this CA issues leaf certificates only`);
    return k;
  });
  const extKeyUsage = o.extKeyUsage === undefined ? null : multi(o.extKeyUsage, 'extKeyUsage').map((u) => {
    const oid = EXT_KEY_USAGES[u.toLowerCase()];
    if (!oid) throw bad(`unknown extKeyUsage "${u}" (use unknownExtKeyUsage for an OID)`);
    return oid;
  });
  const oids = (k: string) => multi(o[k], k).map((x) => {
    if (!OID.test(x)) throw bad(`${k}: "${x}" is not an OID`);
    return x;
  });
  const urls = (k: string) => multi(o[k], k).map((x) => {
    try { new URL(x); } catch { throw bad(`${k}: "${x}" is not a URL`); }
    return x;
  });

  const subjectIn = o.subject ?? {};
  if (typeof subjectIn !== 'object' || Array.isArray(subjectIn)) throw bad('subject must be an object');
  const s = subjectIn as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (!['commonName', 'serialNumber', ...SUBJECT_FIELDS.map((f) => f[1])].includes(k)) throw bad(`subject.${k} is not supported`);
  }
  const commonName = s.commonName === undefined || s.commonName === null ? '' : typeof s.commonName === 'string' ? s.commonName : (() => { throw bad('subject.commonName must be a string'); })();
  const serialNumber = s.serialNumber === undefined || s.serialNumber === null ? '' : typeof s.serialNumber === 'string' ? s.serialNumber : (() => { throw bad('subject.serialNumber must be a string'); })();
  // Go's order (pkix.Name.ToRDNSequence): C, O, OU, L, ST, street, postalCode, serialNumber, CN.
  const subject = SUBJECT_FIELDS.map(([, json, oid]) => ({ oid, values: multi(s[json], `subject.${json}`) })).filter((a) => a.values.length);
  // A UTF8String cannot hold a lone surrogate (JSON's \ud800 can spell one).
  for (const v of [commonName, serialNumber, ...subject.flatMap((a) => a.values)]) {
    if (LONE_SURROGATE.test(v)) throw bad(`subject value ${JSON.stringify(v)} is not valid Unicode`);
  }
  if (serialNumber) subject.push({ oid: '2.5.4.5', values: [serialNumber] });
  if (commonName) subject.push({ oid: '2.5.4.3', values: [commonName] });

  const sans: San[] = [];
  const sansIn = o.sans ?? [];
  if (!Array.isArray(sansIn)) throw bad('sans must be a list of {"type","value"}');
  for (const x of sansIn) {
    const { type, value } = (x ?? {}) as { type?: unknown; value?: unknown };
    if (typeof value !== 'string' || value === '') throw bad('every sans entry needs a string value');
    const t = typeof type === 'string' ? type.toLowerCase() : '';
    if (t === '' || t === 'auto') sans.push(classifySan(value));
    else if (t === 'dns' || t === 'email' || t === 'ip') sans.push({ type: t, value });
    else if (t === 'uri') sans.push({ type: 'url', value });
    else throw bad(`sans type "${String(type)}" is not supported (dns, email, ip, uri)`);
  }
  for (const v of multi(o.dnsNames, 'dnsNames')) sans.push({ type: 'dns', value: v });
  for (const v of multi(o.emailAddresses, 'emailAddresses')) sans.push({ type: 'email', value: v });
  for (const v of multi(o.ipAddresses, 'ipAddresses')) sans.push({ type: 'ip', value: v });
  for (const v of multi(o.uris, 'uris')) sans.push({ type: 'url', value: v });
  for (const san of sans) {
    if (/[^\x00-\x7f]/.test(san.value)) throw bad(`SAN ${JSON.stringify(san.value)} is not ASCII; use the punycode (xn--) form`);
    if (san.type === 'ip') {
      if (!isIP(san.value)) throw bad(`"${san.value}" is not an IP address`);
      san.value = canonicalIp(san.value);
    }
    if (san.type === 'url') {
      try { new URL(san.value); } catch { throw bad(`"${san.value}" is not a URI`); }
    }
  }
  const seen = new Set<string>();
  const unique = orderSans(sans.filter((x) => (seen.has(`${x.type}:${x.value}`) ? false : (seen.add(`${x.type}:${x.value}`), true))));
  if (!commonName && unique.length === 0) throw bad('leaves the certificate without a subject common name or any subject alternative name');

  const extensions = (o.extensions === undefined ? [] : Array.isArray(o.extensions) ? o.extensions : (() => { throw bad('extensions must be a list'); })()).map((e: unknown) => {
    const { id, critical, value } = (e ?? {}) as { id?: unknown; critical?: unknown; value?: unknown };
    if (typeof id !== 'string' || !OID.test(id)) throw bad('every extension needs an "id" OID');
    if (RESERVED_EXTENSIONS[id]) throw bad(`extension ${id} (${RESERVED_EXTENSIONS[id]}) cannot be set raw; use the template field, or leave it to the CA`);
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw bad(`extension ${id}: value must be Base64 DER`);
    return { id, critical: critical === true, value: Buffer.from(value, 'base64') };
  });

  return {
    subject, commonName, sans: unique, keyUsage, extKeyUsage,
    unknownExtKeyUsage: oids('unknownExtKeyUsage'),
    basicConstraints: bc ? { isCA: false } : null,
    ocspServer: o.ocspServer === undefined ? null : urls('ocspServer'),
    issuingCertificateURL: urls('issuingCertificateURL'),
    crlDistributionPoints: o.crlDistributionPoints === undefined ? null : urls('crlDistributionPoints'),
    policyIdentifiers: oids('policyIdentifiers'),
    extensions,
  };
}
