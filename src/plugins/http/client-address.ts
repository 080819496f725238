import ipaddr from 'ipaddr.js';

/** An address as IPv4 when it is an IPv4-mapped IPv6 one (`::ffff:127.0.0.1`), else as it is. */
function parse(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  return ipaddr.isValid(ip) ? ipaddr.process(ip) : undefined;
}

/**
 * What the IP limit counts a client under (docs/contract.md §13): an IPv4 address, or the /64
 * network of an IPv6 one — a single host usually holds a whole /64 and could otherwise rotate
 * through its addresses to escape the limit.
 */
export function rateLimitClientKey(ip: string): string {
  const address = parse(ip);
  if (address === undefined) return ip;
  if (address.kind() === 'ipv4') return address.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/64`).toString()}/64`;
}

/** 127.0.0.0/8 and ::1 (IPv4-mapped forms included). */
export function isLoopback(ip: string): boolean {
  return parse(ip)?.range() === 'loopback';
}
