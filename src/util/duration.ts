// Go-style durations ("1h30m", "-5m", "300ms", "24h0m0s") and the time forms step-ca accepts
// (RFC 3339 or a duration relative to a base). Go's syntax is small and exact; no npm package
// matches it (ms, parse-duration accept other grammars), so it lives here with its tests.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
};

/** Parses a Go duration into milliseconds; returns null when it is not one. */
export function parseDuration(text: string): number | null {
  const s = text;
  if (/^[+-]?0$/.test(s)) return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m) return null;
  const sign = m[1] === '-' ? -1 : 1;
  let total = 0;
  for (const part of s.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * UNIT_MS[part[2]!]!;
  }
  return sign * Math.round(total);
}

/** Formats milliseconds the way Go's time.Duration.String() does (whole seconds and above). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? '-' : ''}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  const sec = Number.isInteger(s) ? `${s}s` : `${s.toFixed(3).replace(/0+$/, '')}s`;
  const out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  return (neg ? '-' : '') + out;
}

/**
 * A point in time given as RFC 3339 or as a duration relative to `base`.
 * Returns null for the empty string (unset); throws on anything else unparseable.
 */
export function parseTimeOrDuration(text: string, base: Date): Date | null {
  if (text === '') return null;
  const d = parseDuration(text);
  if (d !== null) return new Date(base.getTime() + d);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) {
    const t = new Date(text);
    // Date rolls Feb 30 over into March; Go's time.Parse refuses it, and so do we.
    if (!Number.isNaN(t.getTime()) && fieldsRoundTrip(text, t)) return t;
  }
  throw new RangeError(`'${text}' is neither an RFC 3339 time nor a duration`);
}

function fieldsRoundTrip(text: string, t: Date): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/i.exec(text)!;
  const offsetMin = m[7]!.toUpperCase() === 'Z' ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const local = new Date(t.getTime() + offsetMin * 60_000);
  return local.getUTCFullYear() === Number(m[1]) && local.getUTCMonth() + 1 === Number(m[2]) && local.getUTCDate() === Number(m[3])
    && local.getUTCHours() === Number(m[4]) && local.getUTCMinutes() === Number(m[5]) && Number(m[6]) < 60 && Number(m[9] ?? 0) < 24;
}
