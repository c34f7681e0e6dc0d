// Where files live in a CA home, laid out as step lays out $STEPPATH (cli.md).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface Layout {
  home: string;
  caConfig: string;
  defaults: string;
  rootCert: string;
  intermediateCert: string;
  rootKey: string;
  intermediateKey: string;
  ledger: string;
}

export function layout(home: string): Layout {
  const h = resolve(home);
  return {
    home: h,
    caConfig: join(h, 'config', 'ca.json'),
    defaults: join(h, 'config', 'defaults.json'),
    rootCert: join(h, 'certs', 'root_ca.crt'),
    intermediateCert: join(h, 'certs', 'intermediate_ca.crt'),
    rootKey: join(h, 'secrets', 'root_ca_key'),
    intermediateKey: join(h, 'secrets', 'intermediate_ca_key'),
    ledger: join(h, 'db', 'ledger.sqlite'),
  };
}

/** --home, else $STEPPATH, else ~/.step (step's own default). */
export function resolveHome(flag?: string): string {
  return resolve(flag ?? process.env.STEPPATH ?? join(homedir(), '.step'));
}
