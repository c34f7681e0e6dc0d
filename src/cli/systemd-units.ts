// The cert-renewer@ units (api.md §3.7), as text templates. config/systemd/ holds these same units
// rendered with DEFAULT_RENEWER; a unit test keeps the two identical.

export interface RenewerUnitOptions {
  /** Absolute path of node. */
  node: string;
  /** Absolute path of the stepstone script. */
  stepstone: string;
  /** STEPPATH: client home with config/defaults.json (CA URL, root). */
  home: string;
  /** Certificate and key paths; %i (the instance: the service to reload) is kept as a specifier. */
  cert: string;
  key: string;
  caUrl?: string;
  root?: string;
  /** argv of each extra command run after each renewal, in the order given. */
  execPost?: string[][];
  systemctl: string;
}

export const DEFAULT_RENEWER: RenewerUnitOptions = {
  node: '/usr/bin/node',
  stepstone: '/usr/local/bin/stepstone',
  home: '/etc/stepstone',
  cert: '/etc/stepstone/certs/%i.crt',
  key: '/etc/stepstone/certs/%i.key',
  systemctl: '/usr/bin/systemctl',
};

/**
 * One word of an Exec*= line. systemd expands %specifiers and $VARIABLES and splits on
 * whitespace, so each is escaped unless it is the %i/%I we mean; quoting covers spaces and quotes.
 */
export function execWord(word: string, keepInstance = false): string {
  let w = word.replace(/%(.?)/gs, (m, next: string) => (keepInstance && (next === 'i' || next === 'I') ? m : `%%${next}`)).replace(/\$/g, '$$$$');
  if (w === '' || /[\s"'\\;]/.test(w)) w = `"${w.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
  return w;
}

/**
 * A value after KEY= that is not a command line (Environment=): specifiers escaped except the
 * %i/%I we mean, quoted if needed. systemd does not expand $ here.
 */
function envAssignment(name: string, value: string, keepInstance = false): string {
  const v = value.replace(/%(.?)/gs, (m, next: string) => (keepInstance && (next === 'i' || next === 'I') ? m : `%%${next}`));
  return /[\s"'\\]/.test(v) ? `"${name}=${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : `${name}=${v}`;
}

/** The files as step's units name them, so smallstep's documented drop-ins apply unchanged. */
const CERT = '${CERT_LOCATION}';
const KEY = '${KEY_LOCATION}';

/** `args` are escaped words, or the ${CERT_LOCATION}/${KEY_LOCATION} references, which systemd expands as one word each. */
function stepstoneCommand(o: RenewerUnitOptions, args: string[]): string {
  const flags = [...(o.caUrl ? ['--ca-url', o.caUrl] : []), ...(o.root ? ['--root', o.root] : [])];
  const words = [execWord(o.node), execWord(o.stepstone), ...args.map((a) => (a === CERT || a === KEY ? a : execWord(a, true)))];
  return [...words, ...flags.map((f) => execWord(f))].join(' ');
}

/** One ExecStartPost= per --exec-post, in the order given; systemd runs them in that order. */
function hookLines(execPost: string[][] | undefined): string {
  return (execPost ?? []).map((argv) => `ExecStartPost=${argv.map((w) => execWord(w, true)).join(' ')}\n`).join('');
}

export function renewerService(o: RenewerUnitOptions): string {
  const needs = stepstoneCommand({ ...o, caUrl: undefined, root: undefined }, ['certificate', 'needs-renewal', CERT]);
  const renew = stepstoneCommand(o, ['ca', 'renew', '--force', CERT, KEY]);
  return `# Renews one certificate; the instance name is the service that uses it: cert-renewer@nginx
# renews ${o.cert.replace(/%i/g, 'nginx')} and then reloads nginx.service if it is running.
# Started by cert-renewer@.timer:  systemctl enable --now cert-renewer@nginx.timer
# Change paths or the reload with a drop-in:  systemctl edit cert-renewer@nginx.service
# The variables are step's (CERT_LOCATION, KEY_LOCATION, STEPPATH), so smallstep's drop-ins work:
#   [Service]
#   Environment=CERT_LOCATION=/srv/nginx/tls.crt KEY_LOCATION=/srv/nginx/tls.key
[Unit]
Description=Certificate renewer for %I
After=network-online.target
Wants=network-online.target
PartOf=cert-renewer.target
# The timer retries every 15 minutes; never give up on a unit that failed a few times.
StartLimitIntervalSec=0

[Service]
Type=oneshot
Environment=${envAssignment('STEPPATH', o.home)}
Environment=${envAssignment('CERT_LOCATION', o.cert, true)}
Environment=${envAssignment('KEY_LOCATION', o.key, true)}
# Exit 1 (not yet 2/3 of the lifetime used) skips the run without marking the unit failed.
ExecCondition=${needs}
ExecStart=${renew}
# Reload, or restart if it cannot reload, the service named by the instance, only if it is active.
ExecStartPost=${execWord(o.systemctl)} try-reload-or-restart %i.service
${hookLines(o.execPost)}NoNewPrivileges=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
`;
}

export function renewerTimer(): string {
  return `# Checks every 15 minutes whether the certificate of %i needs renewal (cert-renewer@.service
# decides; most runs end at its ExecCondition).
[Unit]
Description=Certificate renewal timer for %I
PartOf=cert-renewer.target

[Timer]
OnCalendar=*:1/15
# Spread a fleet's renewals so they do not all reach the CA in the same second.
RandomizedDelaySec=5m
AccuracySec=1us
# A run missed while the machine was off happens at boot.
Persistent=true

[Install]
WantedBy=timers.target
`;
}

export function renewerTarget(): string {
  return `# Groups every cert-renewer@ timer and service: systemctl restart cert-renewer.target
# restarts them all (for instance after changing a shared drop-in).
[Unit]
Description=Certificate renewers

[Install]
WantedBy=multi-user.target
`;
}

export const RENEWER_FILES = ['cert-renewer@.service', 'cert-renewer@.timer', 'cert-renewer.target'] as const;

export function renewerUnits(o: RenewerUnitOptions): Record<(typeof RENEWER_FILES)[number], string> {
  return {
    'cert-renewer@.service': renewerService(o),
    'cert-renewer@.timer': renewerTimer(),
    'cert-renewer.target': renewerTarget(),
  };
}
