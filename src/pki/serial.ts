// Serial numbers as step writes them: decimal everywhere, parsed the way Go's big.Int
// SetString(s, 0) does (decimal, or 0x / 0o / 0b prefixed, any case).

/** The serial in decimal, or null when `text` is not one. */
export function normalizeSerial(text: string): string | null {
  const t = text.trim();
  if (t.length > 200 || !/^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i.test(t)) return null;
  return BigInt(t.replace(/^0([xob])/i, (_m, p: string) => `0${p.toLowerCase()}`)).toString(10);
}

/** A certificate's serial as @peculiar/x509 gives it (hex) in decimal. */
export function serialToDecimal(hex: string): string {
  return BigInt(`0x${hex || '0'}`).toString(10);
}
