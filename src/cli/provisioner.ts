// `stepstone provisioner list|add|remove|update` on a CA home's ca.json, with step's flag names.
// The file is edited as raw JSON (keys Stepstone does not know survive), the result is checked
// exactly as a reload would check it, the previous file is kept as ca.json.bak, and the new one
// replaces it atomically. A running CA picks it up on `stepstone reload` (or SIGHUP).
import { copyFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { layout, resolveHome } from '../config/layout.js';
import { readTextExplained } from '../util/read-file.js';
import { parseDuration } from '../util/duration.js';
import { CliError, readPasswordFile, say } from './common.js';

type Raw = Record<string, any>;

interface ClaimFlags {
  x509MinDur?: string; x509MaxDur?: string; x509DefaultDur?: string;
  disableRenewal?: boolean; allowRenewalAfterExpiry?: boolean; disableSmallstepExtensions?: boolean;
  x509Template?: string; x509TemplateData?: string;
  x509AllowDns?: string[]; x509AllowIp?: string[]; x509AllowEmail?: string[]; x509AllowUri?: string[]; x509AllowCn?: string[];
  x509DenyDns?: string[]; x509DenyIp?: string[]; x509DenyEmail?: string[]; x509DenyUri?: string[]; x509DenyCn?: string[];
  x509AllowWildcardNames?: boolean;
  issuer?: string;
}

const POLICY_TYPES = [['Dns', 'dns'], ['Ip', 'ip'], ['Email', 'email'], ['Uri', 'uri'], ['Cn', 'cn']] as const;
const repeat = (v: string, prev: string[] = []) => [...prev, v];

const bool = (v: string | undefined): boolean => {
  if (v === undefined || v === 'true') return true;
  if (v === 'false') return false;
  throw new CliError(`expected true or false, not "${v}"`, 2);
};

function withClaimFlags(c: Command): Command {
  return c
    .option('--x509-min-dur <duration>', 'shortest certificate lifetime (claims.minTLSCertDuration)')
    .option('--x509-max-dur <duration>', 'longest certificate lifetime (claims.maxTLSCertDuration)')
    .option('--x509-default-dur <duration>', 'default certificate lifetime (claims.defaultTLSCertDuration)')
    .option('--disable-renewal [bool]', 'refuse renewals of this provisioner\'s certificates', bool)
    .option('--allow-renewal-after-expiry [bool]', 'renew certificates that have expired', bool)
    .option('--disable-smallstep-extensions [bool]', 'leave the step provisioner extension out of certificates', bool)
    .option('--x509-template <file>', 'certificate template file (options.x509.templateFile; "" removes it)')
    .option('--x509-template-data <file>', 'JSON file of template data (options.x509.templateData; "" removes it)')
    .option('--x509-allow-dns <name>', 'policy: allow this DNS name or *.domain (repeatable; replaces the list; "" empties it)', repeat)
    .option('--x509-allow-ip <ip|cidr>', 'policy: allow this address or network (repeatable)', repeat)
    .option('--x509-allow-email <address|@domain>', 'policy: allow this email address or domain (repeatable)', repeat)
    .option('--x509-allow-uri <rule>', 'policy: allow URIs on this host domain, or scheme://host/path[/*] (repeatable)', repeat)
    .option('--x509-allow-cn <name>', 'policy: allow this subject common name (repeatable)', repeat)
    .option('--x509-deny-dns <name>', 'policy: deny this DNS name or *.domain (repeatable)', repeat)
    .option('--x509-deny-ip <ip|cidr>', 'policy: deny this address or network (repeatable)', repeat)
    .option('--x509-deny-email <address|@domain>', 'policy: deny this email address or domain (repeatable)', repeat)
    .option('--x509-deny-uri <rule>', 'policy: deny these URIs (repeatable)', repeat)
    .option('--x509-deny-cn <name>', 'policy: deny this subject common name (repeatable)', repeat)
    .option('--x509-allow-wildcard-names [bool]', 'policy: allow literal wildcard names such as *.example.com', bool)
    .option('--issuer <name>', 'the stepstone.issuers entry that signs its certificates ("" = the default, the first)');
}

/** The provisioner's policy.x509, in ca.json's spelling; each flag given replaces that list. */
function applyPolicyFlags(p: Raw, o: ClaimFlags): void {
  const x509: Raw = { ...(p.policy?.x509 ?? {}) };
  let touched = false;
  for (const side of ['Allow', 'Deny'] as const) {
    const names: Raw = { ...(x509[side.toLowerCase()] ?? {}) };
    for (const [flag, key] of POLICY_TYPES) {
      const v = o[`x509${side}${flag}` as keyof ClaimFlags] as string[] | undefined;
      if (v === undefined) continue;
      touched = true;
      const list = v.filter((x) => x !== '');
      if (list.length) names[key] = list;
      else delete names[key];
    }
    if (Object.keys(names).length) x509[side.toLowerCase()] = names;
    else delete x509[side.toLowerCase()];
  }
  if (o.x509AllowWildcardNames !== undefined) {
    touched = true;
    x509.allowWildcardNames = o.x509AllowWildcardNames;
  }
  if (!touched) return;
  p.policy = { ...(p.policy ?? {}), x509 };
}

function applyFlags(p: Raw, o: ClaimFlags): void {
  const claims: Raw = { ...(p.claims ?? {}) };
  const dur = (flag: string, key: string, v?: string) => {
    if (v === undefined) return;
    if (parseDuration(v) === null) throw new CliError(`--${flag}: "${v}" is not a duration such as "5m" or "24h"`, 2);
    claims[key] = v;
  };
  dur('x509-min-dur', 'minTLSCertDuration', o.x509MinDur);
  dur('x509-max-dur', 'maxTLSCertDuration', o.x509MaxDur);
  dur('x509-default-dur', 'defaultTLSCertDuration', o.x509DefaultDur);
  if (o.disableRenewal !== undefined) claims.disableRenewal = o.disableRenewal;
  if (o.allowRenewalAfterExpiry !== undefined) claims.allowRenewalAfterExpiry = o.allowRenewalAfterExpiry;
  if (o.disableSmallstepExtensions !== undefined) claims.disableSmallstepExtensions = o.disableSmallstepExtensions;
  if (Object.keys(claims).length) p.claims = claims;
  applyPolicyFlags(p, o);
  // An unknown name is refused by the check every edit gets (the config schema).
  if (o.issuer === '') delete p.issuer;
  else if (o.issuer !== undefined) p.issuer = o.issuer;
  if (o.x509Template !== undefined || o.x509TemplateData !== undefined) {
    const x509: Raw = { ...(p.options?.x509 ?? {}) };
    if (o.x509Template !== undefined) {
      delete x509.template;
      if (o.x509Template === '') delete x509.templateFile;
      else x509.templateFile = o.x509Template;
    }
    if (o.x509TemplateData !== undefined) {
      if (o.x509TemplateData === '') delete x509.templateData;
      else {
        try {
          x509.templateData = JSON.parse(readTextExplained(o.x509TemplateData, 'template data'));
        } catch (e) {
          throw new CliError(`--x509-template-data ${o.x509TemplateData}: ${(e as Error).message}`);
        }
      }
    }
    p.options = { ...(p.options ?? {}), x509 };
    if (!Object.keys(x509).length) delete p.options.x509;
    if (!Object.keys(p.options).length) delete p.options;
  }
}

interface Home { home?: string; caConfig?: string }

function configPathOf(o: Home): string {
  return o.caConfig ? resolve(o.caConfig) : layout(resolveHome(o.home)).caConfig;
}

function readRaw(path: string): Raw {
  try {
    return JSON.parse(readTextExplained(path, 'config'));
  } catch (e) {
    throw new CliError(e instanceof SyntaxError ? `config ${path} is not valid JSON: ${e.message}` : (e as Error).message);
  }
}

function provisionersOf(raw: Raw, path: string): Raw[] {
  raw.authority ??= {};
  raw.authority.provisioners ??= [];
  if (!Array.isArray(raw.authority.provisioners)) throw new CliError(`config ${path}: authority.provisioners is not a list`);
  return raw.authority.provisioners;
}

/** Checks the edited config as a reload would, then keeps ca.json.bak and replaces ca.json atomically. */
async function writeChecked(path: string, raw: Raw): Promise<void> {
  const [{ writeFileAtomic }, { prepareReload }] = await Promise.all([import('../pki/keys.js'), import('../authority/reload.js')]);
  const mode = statSync(path).mode & 0o777;
  const text = `${JSON.stringify(raw, null, 2)}\n`;
  // Checked from the same directory, so relative paths (templates) resolve as they will.
  const candidate = join(dirname(path), `.${basename(path)}.candidate-${process.pid}`);
  writeFileAtomic(candidate, text, 0o600);
  try {
    await prepareReload(candidate);
  } catch (e) {
    throw new CliError(`${(e as Error).message.replaceAll(candidate, path)} (ca.json left unchanged)`);
  } finally {
    rmSync(candidate, { force: true });
  }
  copyFileSync(path, `${path}.bak`);
  writeFileAtomic(path, text, mode);
}

const afterWrite = (path: string) => say(`${path} updated (previous version in ${basename(path)}.bak); run \`stepstone reload\` to apply it to a running CA`);

export function registerProvisionerCommands(program: Command): void {
  const group = program.command('provisioner').description('list, add, remove and update provisioners in a CA home\'s ca.json');
  const home = (c: Command) => c.option('--home <dir>', 'CA home (default $STEPPATH or ~/.step)').option('--ca-config <file>', 'the ca.json to edit (default HOME/config/ca.json)');

  home(group.command('list').description('print the provisioners as JSON (public parts only)'))
    .action((o: Home) => {
      const path = configPathOf(o);
      const list = provisionersOf(readRaw(path), path).map((p) => {
        const { key, ...rest } = p;
        if (!key) return rest;
        const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = key;
        return { ...rest, key: pub };
      });
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    });

  withClaimFlags(home(group.command('add')
    .description('add a JWK provisioner: a new key pair, its private half encrypted with --password-file')
    .argument('<name>', 'provisioner name (the token issuer)')
    .option('--type <type>', 'provisioner type (JWK only)', 'JWK')
    .option('--create', 'create the key pair (the default; accepted for step compatibility)')
    .option('--kty <kty>', 'key type: EC (P-256), OKP (Ed25519) or RSA', 'EC')
    .option('--password-file <file>', 'password that encrypts the provisioner key')))
    .action(async (name: string, o: Home & ClaimFlags & { type: string; kty: string; passwordFile?: string }) => {
      if (o.type.toUpperCase() !== 'JWK') throw new CliError(`--type ${o.type}: only JWK provisioners can be added`, 2);
      const kty = o.kty.toUpperCase();
      if (kty !== 'EC' && kty !== 'OKP' && kty !== 'RSA') throw new CliError(`--kty must be EC, OKP or RSA, not ${o.kty}`, 2);
      if (!o.passwordFile) throw new CliError('--password-file is required to encrypt the new provisioner key', 2);
      const path = configPathOf(o);
      const raw = readRaw(path);
      const list = provisionersOf(raw, path);
      if (list.some((p) => p.name === name)) throw new CliError(`a provisioner named "${name}" already exists in ${path}`);
      const { createProvisionerKey } = await import('../pki/provisioner-key.js');
      const pair = await createProvisionerKey(readPasswordFile(o.passwordFile), kty);
      const p: Raw = { type: 'JWK', name, key: pair.publicJwk, encryptedKey: pair.encryptedKey };
      applyFlags(p, o);
      list.push(p);
      await writeChecked(path, raw);
      say(`added JWK provisioner "${name}" (kid ${pair.publicJwk.kid})`);
      afterWrite(path);
    });

  home(group.command('remove').description('remove a provisioner').argument('<name>', 'provisioner name'))
    .action(async (name: string, o: Home) => {
      const path = configPathOf(o);
      const raw = readRaw(path);
      const list = provisionersOf(raw, path);
      const i = list.findIndex((p) => p.name === name);
      if (i === -1) throw new CliError(`no provisioner named "${name}" in ${path}`);
      list.splice(i, 1);
      await writeChecked(path, raw);
      say(`removed provisioner "${name}"`);
      afterWrite(path);
    });

  withClaimFlags(home(group.command('update').description('change a provisioner\'s claims and template options').argument('<name>', 'provisioner name')))
    .action(async (name: string, o: Home & ClaimFlags) => {
      const path = configPathOf(o);
      const raw = readRaw(path);
      const p = provisionersOf(raw, path).find((x) => x.name === name);
      if (!p) throw new CliError(`no provisioner named "${name}" in ${path}`);
      applyFlags(p, o);
      await writeChecked(path, raw);
      say(`updated provisioner "${name}"`);
      afterWrite(path);
    });
}
