// `ca revoke` and `ca crl`. Client modules are imported inside the actions, as in ca.ts.
import { Command, Option } from 'commander';
import { withClientFlags, stepAlias, withProvisionerFlags, clientFlags, type ClientOpts } from './flags.js';
import { CliError, readPasswordFile, say } from './common.js';
import { canPrompt, obtainPassword } from './password.js';



/** step's spelling of a flag, accepted but kept out of --help. */
interface RevokeFlags extends ClientOpts {
  cert?: string; key?: string; token?: string; provisioner?: string; issuer?: string; kid?: string;
  passwordFile?: string; provisionerPasswordFile?: string; reason?: string; reasonCode?: string;
}

interface CrlFlags extends ClientOpts { out?: string; format?: string; force?: boolean }

export function registerRevokeCommands(ca: Command): void {
  withProvisionerFlags(withClientFlags(ca.command('revoke')))
    .description('revoke a certificate: by serial with a provisioner token, or over mTLS with the certificate itself')
    .argument('[serial]', 'serial number, decimal or 0x-hex (default: the serial of --cert, or the --token subject)')
    .option('--cert <file>', 'revoke this certificate, authenticating with it over mTLS (needs --key)')
    .option('--key <file>', 'the private key of --cert')
    .option('--token <token>', 'one-time revoke token (`stepstone ca token SERIAL --revoke`)')
    .option('--reason <text>', 'why, in words (kept in the ledger)')
    .option('--reason-code <code>', 'RFC 5280 reason: 0-10 or a name such as keyCompromise, superseded, cessationOfOperation (default 0, unspecified)')
    .addOption(stepAlias('--reasonCode <code>', 'alias of --reason-code'))
    .action(async (serial: string | undefined, o: RevokeFlags) => {
      const file = o.passwordFile ?? o.provisionerPasswordFile;
      // Neither the certificate nor a token: the provisioner signs one, so ask for its password at a terminal.
      const prompt = file === undefined && o.cert === undefined && o.key === undefined && o.token === undefined && canPrompt();
      const { revokeCertificate, reasonName, parseReasonCode } = await import('../client/revoke.js');
      const code = parseReasonCode(o.reasonCode);
      const res = await revokeCertificate({
        ...clientFlags(o), serial, certFile: o.cert, keyFile: o.key, token: o.token, provisioner: o.provisioner ?? o.issuer, kid: o.kid,
        password: prompt ? await obtainPassword({ flag: '--password-file', purpose: 'to decrypt the provisioner key' }) : file === undefined ? undefined : readPasswordFile(file), reason: o.reason, reasonCode: o.reasonCode,
      });
      say(`Certificate with Serial Number ${res.serial} has been revoked (${reasonName(code)}).`);
    });

  withClientFlags(ca.command('crl'))
    .description('fetch the CA\'s CRL, verify it against the intermediate and root, and print or save it')
    .option('--out <file>', 'write the CRL here (default: print PEM to stdout)')
    .addOption(new Option('--format <format>', 'der or pem (default: der with --out, pem on stdout)').choices(['der', 'pem']))
    .option('-f, --force', 'overwrite --out if it exists')
    .option('--issuer <name>', 'the CRL of this issuer of the CA (stepstone.issuers; /crl/NAME) instead of the default one\'s')
    .action(async (o: CrlFlags & { issuer?: string }) => {
      const { fetchVerifiedCrl, crlPem } = await import('../client/crl.js');
      if (o.out) {
        const { existsSync } = await import('node:fs');
        if (existsSync(o.out) && !o.force) throw new CliError(`${o.out} already exists; pass --force to overwrite it`);
      }
      const crl = await fetchVerifiedCrl(clientFlags(o), new Date(), o.issuer);
      const format = o.format ?? (o.out ? 'der' : 'pem');
      const data = format === 'der' ? crl.der : crlPem(crl.der);
      if (o.out) {
        const { writeFileAtomic } = await import('../pki/keys.js');
        // A CRL is public; relying parties (nginx workers) must be able to read it.
        writeFileAtomic(o.out, data, 0o644);
      } else {
        process.stdout.write(data);
      }
      const n = crl.entries;
      say(`CRL ${crl.number === undefined ? '(no number)' : `number ${crl.number}`} from ${crl.issuer.subject}: ${n} revoked certificate${n === 1 ? '' : 's'}, `
        + `updated ${crl.thisUpdate.toISOString()}, next update ${crl.nextUpdate.toISOString()}; signature and chain verified.`);
      if (o.out) say(`The CRL has been saved in ${o.out} (${format.toUpperCase()}).`);
    });
}
