// Name policies in step-ca's format (`policy.x509.allow|deny`): which subject common names and
// SANs a certificate may carry. Rules are compiled once when the config loads (a bad rule stops
// the start naming it); checking is pure and synchronous. Semantics follow step-ca's engine
// (smallstep/certificates policy/), with the differences listed in README "Name policies":
// every one of them refuses a name step-ca would let through, never the other way round.
import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { policyDenied } from '../errors.js';
import type { PolicyConfig, X509NamesConfig } from '../config/policy-schema.js';
import { classifySan, type San } from '../pki/names.js';

/** step-ca's name types, as its error messages spell them. */
export type NameKind = 'cn' | 'dns' | 'ip' | 'email' | 'uri';
const SAN_KINDS = ['dns', 'ip', 'email', 'uri'] as const;
type SanKind = typeof SAN_KINDS[number];

interface Domain { labels: string[]; wildcard: boolean }
interface DomainRule extends Domain { raw: string }
interface IpRule { raw: string; v: 4 | 6; net: bigint; bits: number }
interface EmailRule { raw: string; local: string | null; domain: string[] }
/** A host rule (step-ca's: the URI's host against a domain rule) or a scheme://host/path rule (ours). */
interface UriRule { raw: string; host?: DomainRule; scheme?: string; exactHost?: string; path?: string; prefix?: boolean }

interface Rules {
  cn: { raw: string; norm: string }[];
  dns: DomainRule[];
  ip: IpRule[];
  email: EmailRule[];
  uri: UriRule[];
}

/** A refusal: which name, why, and the rule (or missing rule) that decided it. */
export interface Refusal { kind: NameKind; name: string; why: string }

export class PolicyConfigError extends Error {}

// ---------- parsing names ----------

const LABEL_OK = /^[\x21-\x7e]+$/;

/** A domain's labels, reversed (com, example, www), lower-case ASCII; null if it cannot be one. */
function domainLabels(name: string): Domain | null {
  let wildcard = false;
  let base = name;
  if (base.startsWith('*.')) {
    wildcard = true;
    base = base.slice(2);
  }
  if (base === '' || base.includes('*')) return null;
  const ascii = domainToASCII(base);
  // WHATWG turns a name ending in a number into an IPv4 address: that is not a DNS name.
  if (ascii === '' || isIP(ascii)) return null;
  const labels = ascii.split('.').reverse();
  if (labels.some((l) => l === '' || !LABEL_OK.test(l))) return null;
  if (wildcard) labels.push('*');
  return { labels, wildcard };
}

/** An IP as family and number; an IPv4-mapped IPv6 address is its IPv4 address (as Go's net.IP). */
function parseIp(s: string): { v: 4 | 6; n: bigint } | null {
  const fam = isIP(s);
  if (fam === 4) return { v: 4, n: s.split('.').reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  if (fam !== 6) return null;
  let host: string;
  try {
    host = new URL(`http://[${s}]/`).hostname.slice(1, -1);
  } catch {
    return null; // a zone id (fe80::1%eth0) has no place in a certificate
  }
  const [head, tail] = host.includes('::') ? host.split('::') as [string, string] : [host, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const n = groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n);
  if (n >> 32n === 0xffffn) return { v: 4, n: n & 0xffffffffn };
  return { v: 6, n };
}

function ipInRule(ip: { v: 4 | 6; n: bigint }, r: IpRule): boolean {
  if (ip.v !== r.v) return false;
  const shift = BigInt((r.v === 4 ? 32 : 128) - r.bits);
  return ip.n >> shift === r.net >> shift;
}

/** RFC 2821 mailbox, unquoted local parts only (as the step CLI writes them). */
function parseMailbox(s: string): { local: string; domain: string[] } | null {
  const at = s.lastIndexOf('@');
  if (at <= 0) return null;
  const local = s.slice(0, at);
  if (!/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$/.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return null;
  const d = domainLabels(s.slice(at + 1));
  if (!d || d.wildcard) return null;
  return { local, domain: d.labels };
}

const sameLabels = (a: string[], b: string[]) => a.length === b.length && a.every((l, i) => l === b[i]);

// ---------- compiling rules ----------

function compileDomainRule(raw: string, what: string): DomainRule {
  const s = raw.trim().toLowerCase();
  if (s === '') throw new PolicyConfigError(`${what}: an empty rule`);
  if (s.startsWith('.')) throw new PolicyConfigError(`${what}: "${raw}": a wildcard rule starts with "*."`);
  if (s.lastIndexOf('*') > 0 || (s.startsWith('*') && !s.startsWith('*.'))) {
    throw new PolicyConfigError(`${what}: "${raw}": "*" may only stand for the whole first label ("*.example.com")`);
  }
  const d = domainLabels(s);
  if (!d) throw new PolicyConfigError(`${what}: "${raw}" is not a domain name`);
  return { raw, ...d };
}

function compileIpRule(raw: string, what: string): IpRule {
  const [addr, len, extra] = raw.trim().split('/');
  const ip = addr === undefined ? null : parseIp(addr);
  const mapped = ip !== null && ip.v === 4 && isIP(addr!) === 6;
  const width = isIP(addr ?? '') === 4 ? 32 : 128;
  let bits = len === undefined ? width : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!ip || extra !== undefined || !(bits >= 0 && bits <= width)) throw new PolicyConfigError(`${what}: "${raw}" is neither an IP address nor a CIDR`);
  // An IPv4-mapped IPv6 network is the IPv4 network it maps (Go's net.IPNet.Contains agrees).
  if (mapped) {
    if (bits < 96) throw new PolicyConfigError(`${what}: "${raw}": an IPv4-mapped network needs a prefix of at least 96`);
    bits -= 96;
  }
  return { raw, v: ip.v, net: ip.n, bits };
}

function compileEmailRule(raw: string, what: string): EmailRule {
  let s = raw.trim();
  if (s === '' || s.includes('*')) throw new PolicyConfigError(`${what}: "${raw}": an email rule is an address, "@domain" or "domain", without "*"`);
  if ((s.match(/@/g) ?? []).length > 1) throw new PolicyConfigError(`${what}: "${raw}" has more than one "@"`);
  if (s.startsWith('@')) s = s.slice(1);
  if (s.includes('@')) {
    const m = parseMailbox(s);
    if (!m) throw new PolicyConfigError(`${what}: "${raw}" is not an email address`);
    return { raw, ...m };
  }
  const d = domainLabels(s.toLowerCase());
  if (!d || d.wildcard || s.startsWith('.')) throw new PolicyConfigError(`${what}: "${raw}" is not a domain name`);
  return { raw, local: null, domain: d.labels };
}

function compileUriRule(raw: string, what: string): UriRule {
  const s = raw.trim();
  if (!s.includes('://')) {
    if (/[[\]/:]/.test(s) || isIP(s)) throw new PolicyConfigError(`${what}: "${raw}": a URI host rule is a domain such as "*.example.com" (no IP, port or path)`);
    return { raw, host: compileDomainRule(s, what) };
  }
  // Stepstone's addition: scheme://host/path exactly, or scheme://host/path/* for a path prefix.
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#*]+)(\/[^?#*]*)?(\*)?$/i.exec(s);
  if (!m) throw new PolicyConfigError(`${what}: "${raw}": a URI rule is "*.domain", "scheme://host/path" or "scheme://host/path/*"`);
  const prefix = m[4] === '*';
  const path = m[3] ?? '';
  if (prefix && !path.endsWith('/')) throw new PolicyConfigError(`${what}: "${raw}": "*" may only end a path, after "/"`);
  if (hasDotSegment(path)) throw new PolicyConfigError(`${what}: "${raw}" has a "." or ".." path segment`);
  return { raw, scheme: m[1]!.toLowerCase(), exactHost: m[2]!.toLowerCase(), path, prefix };
}

const hasDotSegment = (path: string) => path.split('/').some((seg) => /^(\.|%2e){1,2}$/i.test(seg));

function compileRules(n: X509NamesConfig | undefined, where: string): Rules {
  const at = (key: string) => `${where}.${key}`;
  const pick = (a?: string[], b?: string[]) => [...(a ?? []), ...(b ?? [])];
  return {
    cn: pick(n?.cn, n?.commonNames).map((raw) => {
      const norm = raw.trim().toLowerCase();
      if (norm === '' || norm === '*') throw new PolicyConfigError(`${at('cn')}: "${raw}": a common name rule is a name, not empty or "*"`);
      return { raw, norm };
    }),
    dns: pick(n?.dns).map((r) => compileDomainRule(r, at('dns'))),
    ip: pick(n?.ip, n?.ips).map((r) => compileIpRule(r, at('ip'))),
    email: pick(n?.email, n?.emails).map((r) => compileEmailRule(r, at('email'))),
    uri: pick(n?.uri, n?.uris).map((r) => compileUriRule(r, at('uri'))),
  };
}

const count = (r: Rules) => r.cn.length + r.dns.length + r.ip.length + r.email.length + r.uri.length;

// ---------- matching ----------

function matchDomain(d: Domain, r: DomainRule): boolean {
  return sameLabels(d.labels, r.labels) || (r.wildcard && d.labels.length === r.labels.length && sameLabels(d.labels.slice(0, -1), r.labels.slice(0, -1)));
}

/** A wildcard name covers every name one label below it: a deny rule for any of those catches it. */
function wildcardCovers(d: Domain, r: DomainRule): boolean {
  return d.wildcard && !r.wildcard && r.labels.length === d.labels.length && sameLabels(d.labels.slice(0, -1), r.labels.slice(0, -1));
}

type Parsed =
  | { kind: 'dns'; d: Domain }
  | { kind: 'ip'; ip: { v: 4 | 6; n: bigint } }
  | { kind: 'email'; m: { local: string; domain: string[] } }
  | { kind: 'uri'; url: URL; host: Domain; raw: string };

function parseName(kind: SanKind, value: string): Parsed | string {
  switch (kind) {
    case 'dns': {
      const d = domainLabels(value);
      return d ? { kind, d } : 'it cannot be parsed as a domain name (empty label, trailing dot, space or misplaced "*")';
    }
    case 'ip': {
      const ip = parseIp(value);
      return ip ? { kind, ip } : 'it is not an IP address';
    }
    case 'email': {
      const m = parseMailbox(value);
      return m ? { kind, m } : 'it cannot be parsed as an email address';
    }
    case 'uri': {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return 'it cannot be parsed as a URI';
      }
      const rawHost = url.hostname.replace(/^\[|\]$/g, '');
      if (rawHost === '') return 'a URI without a host cannot be matched against rules';
      if (isIP(rawHost)) return 'a URI whose host is an IP address cannot be matched against rules';
      if (rawHost.includes('*')) return 'a URI host cannot contain "*"';
      if (hasDotSegment(rawPath(value))) return 'a URI with a "." or ".." path segment cannot be matched against rules';
      let decoded: string;
      try {
        decoded = decodeURIComponent(rawHost).toLowerCase();
      } catch {
        return 'its host cannot be parsed as a domain name';
      }
      const host = domainLabels(decoded);
      return host ? { kind, url, host, raw: value } : 'its host cannot be parsed as a domain name';
    }
  }
}

/** The path as written (the URL parser would resolve dot segments the certificate keeps). */
function rawPath(value: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(value);
  return m?.[1] ?? '';
}

function matchUri(p: Extract<Parsed, { kind: 'uri' }>, r: UriRule): boolean {
  if (r.host) return matchDomain(p.host, r.host);
  if (p.url.protocol.slice(0, -1).toLowerCase() !== r.scheme) return false;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(p.raw)?.[1]?.toLowerCase();
  if (authority !== r.exactHost) return false;
  if (/[?#]/.test(p.raw)) return false;
  const path = rawPath(p.raw);
  return r.prefix ? path.startsWith(r.path!) && path.length > r.path!.length : path === r.path;
}

function matches(p: Parsed, rules: Rules, deny: boolean): string | null {
  switch (p.kind) {
    case 'dns':
      return rules.dns.find((r) => matchDomain(p.d, r) || (deny && wildcardCovers(p.d, r)))?.raw ?? null;
    case 'ip':
      return rules.ip.find((r) => ipInRule(p.ip, r))?.raw ?? null;
    case 'email':
      return rules.email.find((r) => (r.local === null || r.local === p.m.local) && sameLabels(r.domain, p.m.domain))?.raw ?? null;
    case 'uri':
      return rules.uri.find((r) => matchUri(p, r))?.raw ?? null;
  }
}

/** One compiled `policy.x509` block; `scope` says whose it is in refusals ("the authority policy"). */
export class NamePolicy {
  private readonly allowCount: number;

  private constructor(readonly scope: string, private readonly allow: Rules, private readonly deny: Rules, private readonly allowWildcardNames: boolean) {
    this.allowCount = count(allow);
  }

  /** null when the block sets no rule at all (step-ca then checks nothing, wildcards included). */
  static compile(config: PolicyConfig | undefined, scope: string, where: string): NamePolicy | null {
    const x = config?.x509;
    if (!x) return null;
    const allow = compileRules(x.allow, `${where}.x509.allow`);
    const deny = compileRules(x.deny, `${where}.x509.deny`);
    if (count(allow) + count(deny) === 0) return null;
    return new NamePolicy(scope, allow, deny, x.allowWildcardNames ?? false);
  }

  /** Why a SAN is refused, or null when it may be issued. */
  checkSan(kind: SanKind, value: string): Refusal | null {
    const has = this.allow[kind].length + this.deny[kind].length > 0;
    if (!has) return this.allowCount > 0 ? { kind, name: value, why: `${this.scope} allows no ${kind} names (x509.allow.${kind} is empty)` } : null;
    const p = parseName(kind, value);
    if (typeof p === 'string') return { kind, name: value, why: `${this.scope} cannot match it: ${p}` };
    if (p.kind === 'dns' && p.d.wildcard && !this.allowWildcardNames) return { kind, name: value, why: `${this.scope} has allowWildcardNames false` };
    const denied = matches(p, this.deny, true);
    if (denied !== null) return { kind, name: value, why: `denied by ${this.scope} rule x509.deny.${kind} "${denied}"` };
    if (this.allowCount === 0) return null;
    if (matches(p, this.allow, false) !== null) return null;
    return { kind, name: value, why: `${this.scope} allows it under no x509.allow.${kind} rule` };
  }

  /**
   * The subject common name: a cn rule decides it (deny first); otherwise it is checked as the SAN
   * it looks like, by the rules of that type, as step-ca does.
   */
  checkCommonName(cn: string): Refusal | null {
    if (cn === '') return null;
    const norm = cn.toLowerCase();
    const denied = this.deny.cn.find((r) => r.norm === norm);
    if (denied) return { kind: 'cn', name: cn, why: `denied by ${this.scope} rule x509.deny.cn "${denied.raw}"` };
    if (this.allow.cn.some((r) => r.norm === norm)) return null;
    const r = this.checkSan(sanKind(classifySan(cn)), cn);
    if (!r) return null;
    return { kind: 'cn', name: cn, why: this.allow.cn.length ? `${r.why}, and no x509.allow.cn rule names it` : r.why };
  }
}

const sanKind = (s: San): SanKind => (s.type === 'url' ? 'uri' : s.type);

/** The first refusal of a certificate's names by any of the policies (authority first), or null. */
export function findRefusal(policies: readonly (NamePolicy | null | undefined)[], commonName: string, sans: readonly San[]): Refusal | null {
  for (const p of policies) {
    if (!p) continue;
    for (const s of sans) {
      const r = p.checkSan(sanKind(s), s.value);
      if (r) return r;
    }
    const r = p.checkCommonName(commonName);
    if (r) return r;
  }
  return null;
}

/** step-ca's wording first ("dns name "x" not allowed"), so scripts matching it keep working. */
export const refusalMessage = (r: Refusal) => `${r.kind} name ${JSON.stringify(r.name)} not allowed: ${r.why}`;

/** Throws the 403 for the first refusal. */
export function enforcePolicies(policies: readonly (NamePolicy | null | undefined)[], commonName: string, sans: readonly San[]): void {
  const r = findRefusal(policies, commonName, sans);
  if (r) throw policyDenied(refusalMessage(r));
}

/** Every policy in a config: the authority's and each provisioner's, by provisioner name. */
export class PolicySet {
  private constructor(readonly authority: NamePolicy | null, private readonly byProvisioner: Map<string, NamePolicy>) {}

  static fromConfig(config: { authority: { policy?: PolicyConfig; provisioners: { name: string; policy?: PolicyConfig }[] } }): PolicySet {
    try {
      const authority = NamePolicy.compile(config.authority.policy, 'the authority policy', 'authority.policy');
      const byProvisioner = new Map<string, NamePolicy>();
      config.authority.provisioners.forEach((p, i) => {
        const compiled = NamePolicy.compile(p.policy, `provisioner "${p.name}"'s policy`, `authority.provisioners[${i}].policy`);
        if (compiled) byProvisioner.set(p.name, compiled);
      });
      return new PolicySet(authority, byProvisioner);
    } catch (e) {
      if (e instanceof PolicyConfigError) throw new PolicyConfigError(`config: ${e.message}`);
      throw e;
    }
  }

  get empty(): boolean {
    return this.authority === null && this.byProvisioner.size === 0;
  }

  /** The policies that apply to a certificate of this provisioner (null: none named). */
  for(provisioner: string | null): (NamePolicy | null)[] {
    return [this.authority, provisioner === null ? null : (this.byProvisioner.get(provisioner) ?? null)];
  }

  enforce(provisioner: string | null, commonName: string, sans: readonly San[]): void {
    if (this.empty) return;
    enforcePolicies(this.for(provisioner), commonName, sans);
  }
}
