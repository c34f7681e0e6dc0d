// HOST:PORT as ca.json writes addresses (":9000", "127.0.0.1:0", "[::1]:443").

export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const rawHost = address.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: rawHost === '' ? '0.0.0.0' : rawHost, port: Number(address.slice(i + 1)) };
}
