/**
 * Kubernetes' CEL ip and cidr libraries (k8s.io/apiserver/pkg/cel/library/ip.go and cidr.go, with
 * pkg/cel/ip.go and cidr.go for the types): ip(), isIP(), ip.isCanonical(), family, isUnspecified,
 * isLoopback, isLinkLocalMulticast, isLinkLocalUnicast, isGlobalUnicast, string(ip); cidr(), isCIDR(),
 * containsIP, containsCIDR, ip, masked, prefixLength, string(cidr). Addresses are parsed as Go's
 * net/netip parses them (its error messages included), then refused as Kubernetes refuses them: IPv6
 * zones and IPv4-mapped IPv6 addresses. An IP's opaque state is its canonical text, so `==` compares
 * addresses; a CIDR's is its canonical address and prefix length, unmasked, as netip.Prefix compares.
 */
import { celFunc, celMethod, CelScalar, type CelFunc } from '@bufbuild/cel';
import { opaque, opaqueType, opaqueValue } from './opaque';

const IP = opaqueType('IP');
const CIDR = opaqueType('CIDR');
const { BOOL, INT, STRING } = CelScalar;

/** Go's strconv.Quote, as Go's and Kubernetes' messages quote their input. */
export function goQuote(s: string): string {
  const named: Record<string, string> = {
    '\x07': 'a',
    '\b': 'b',
    '\f': 'f',
    '\n': 'n',
    '\r': 'r',
    '\t': 't',
    '\v': 'v',
  };
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (named[ch]) out += `\\${named[ch]}`;
    else if (c < 0x80) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) out += ch;
    else if (c < 0x10000) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** An address: 4 or 16 bytes, and an IPv6 zone ('' for none). */
interface Addr {
  bytes: number[];
  zone: string;
}

const addrError = (input: string, msg: string, at = '') =>
  new Error(`ParseAddr(${goQuote(input)}): ${msg}${at ? ` (at ${goQuote(at)})` : ''}`);

/** Dotted IPv4 in input[off, end) into out[at..at+4): no leading zeros, values up to 255. */
function parseIPv4Fields(input: string, off: number, end: number, out: number[], at: number): void {
  const s = input.slice(off, end);
  let value = 0;
  let digits = 0;
  let field = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c >= '0' && c <= '9') {
      if (digits === 1 && value === 0) throw addrError(input, 'IPv4 field has octet with leading zero');
      value = value * 10 + Number(c);
      digits++;
      if (value > 255) throw addrError(input, 'IPv4 field has value >255');
    } else if (c === '.') {
      if (i === 0 || i === s.length - 1 || s[i - 1] === '.')
        throw addrError(input, 'IPv4 field must have at least one digit', s.slice(i));
      if (field === 3) throw addrError(input, 'IPv4 address too long');
      out[at + field++] = value;
      value = 0;
      digits = 0;
    } else {
      throw addrError(input, 'unexpected character', s.slice(i));
    }
  }
  if (field < 3) throw addrError(input, 'IPv4 address too short');
  out[at + 3] = value;
}

function parseIPv6(input: string): Addr {
  let s = input;
  let zone = '';
  const percent = s.indexOf('%');
  if (percent >= 0) {
    zone = s.slice(percent + 1);
    s = s.slice(0, percent);
    if (zone === '') throw addrError(input, 'zone must be a non-empty string');
  }
  const bytes = new Array<number>(16).fill(0);
  let ellipsis = -1;
  if (s.startsWith('::')) {
    ellipsis = 0;
    s = s.slice(2);
    if (s === '') return { bytes, zone };
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      const digit = parseInt(s[off], 16);
      if (Number.isNaN(digit)) break;
      acc = acc * 16 + digit;
      if (off > 3) throw addrError(input, 'each group must have 4 or less digits', s);
      if (acc > 0xffff) throw addrError(input, 'IPv6 field has value >=2^16', s);
    }
    if (off === 0) throw addrError(input, 'each colon-separated field must have at least one digit', s);
    if (s[off] === '.') {
      if (ellipsis < 0 && i !== 12)
        throw addrError(input, 'embedded IPv4 address must replace the final 2 fields of the address', s);
      if (i + 4 > 16)
        throw addrError(input, 'too many hex fields to fit an embedded IPv4 at the end of the address', s);
      const end = input.length - (zone ? zone.length + 1 : 0);
      parseIPv4Fields(input, end - s.length, end, bytes, i);
      s = '';
      i += 4;
      break;
    }
    bytes[i] = acc >> 8;
    bytes[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s === '') break;
    if (s[0] !== ':') throw addrError(input, 'unexpected character, want colon', s);
    if (s.length === 1) throw addrError(input, 'colon must be followed by more characters', s);
    s = s.slice(1);
    if (s[0] === ':') {
      if (ellipsis >= 0) throw addrError(input, 'multiple :: in address', s);
      ellipsis = i;
      s = s.slice(1);
      if (s === '') break;
    }
  }
  if (s !== '') throw addrError(input, 'trailing garbage after address', s);
  if (i < 16) {
    if (ellipsis < 0) throw addrError(input, 'address string too short');
    const moved = bytes.slice(ellipsis, i);
    bytes.fill(0, ellipsis);
    bytes.splice(16 - moved.length, moved.length, ...moved);
  } else if (ellipsis >= 0) {
    throw addrError(input, 'the :: must expand to at least one field of zeros');
  }
  return { bytes, zone };
}

/** net/netip's ParseAddr. */
export function parseAddr(s: string): Addr {
  for (const c of s) {
    if (c === '.') {
      const bytes = [0, 0, 0, 0];
      parseIPv4Fields(s, 0, s.length, bytes, 0);
      return { bytes, zone: '' };
    }
    if (c === ':') return parseIPv6(s);
    if (c === '%') throw addrError(s, 'missing IPv6 address');
  }
  throw addrError(s, 'unable to parse IP');
}

const is4 = (a: Addr) => a.bytes.length === 4;
const is4In6 = (a: Addr) =>
  !is4(a) && a.bytes.slice(0, 10).every((b) => b === 0) && a.bytes[10] === 0xff && a.bytes[11] === 0xff;
const group = (a: Addr, i: number) => (a.bytes[2 * i] << 8) | a.bytes[2 * i + 1];

/** The canonical text: dotted IPv4; IPv6 in lower-case hex with the first longest zero run as "::". */
function addrString(a: Addr): string {
  if (is4(a)) return a.bytes.join('.');
  let zeroStart = -1;
  let zeroLength = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && group(a, j) === 0) j++;
    if (j - i > zeroLength) [zeroStart, zeroLength] = [i, j - i];
  }
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) parts.push(group(a, i).toString(16));
  const text =
    zeroStart < 0
      ? parts.join(':')
      : `${parts.slice(0, zeroStart).join(':')}::${parts.slice(zeroStart + zeroLength).join(':')}`;
  return a.zone ? `${text}%${a.zone}` : text;
}

/** Kubernetes' parseIPAddr: netip's parse, then no zones and no IPv4-mapped IPv6. */
function parseIP(raw: string): Addr {
  let addr: Addr;
  try {
    addr = parseAddr(raw);
  } catch (e) {
    throw new Error(
      `IP Address ${goQuote(raw)} parse error during conversion from string: ${(e as Error).message}`,
    );
  }
  if (addr.zone) throw new Error(`IP address ${goQuote(raw)} with zone value is not allowed`);
  if (is4In6(addr)) throw new Error(`IPv4-mapped IPv6 address ${goQuote(raw)} is not allowed`);
  return addr;
}

interface Prefix {
  addr: Addr;
  bits: number;
}

const PREFIX_PREFIX = 'network address parse error during conversion from string: ';

/** net/netip's ParsePrefix. */
function parsePrefix(s: string): Prefix {
  const fail = (msg: string) => new Error(`netip.ParsePrefix(${goQuote(s)}): ${msg}`);
  const slash = s.lastIndexOf('/');
  if (slash < 0) throw fail("no '/'");
  let addr: Addr;
  try {
    addr = parseAddr(s.slice(0, slash));
  } catch (e) {
    throw fail((e as Error).message);
  }
  if (addr.zone) throw fail('IPv6 zones cannot be present in a prefix');
  const bitsText = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(bitsText) || BigInt(bitsText) >= 1n << 63n)
    throw fail(`bad bits after slash: ${goQuote(bitsText)}`);
  const bits = Number(bitsText);
  if (bits > addr.bytes.length * 8) throw fail('prefix length out of range');
  return { addr, bits };
}

/** Kubernetes' parseCIDR: netip's parse, then no IPv4-mapped IPv6; messages prefixed as Kubernetes does. */
function parseCIDR(raw: string): Prefix {
  let prefix: Prefix;
  try {
    prefix = parsePrefix(raw);
  } catch (e) {
    throw new Error(PREFIX_PREFIX + PREFIX_PREFIX + (e as Error).message);
  }
  if (is4In6(prefix.addr))
    throw new Error(`${PREFIX_PREFIX}IPv4-mapped IPv6 address ${goQuote(raw)} is not allowed`);
  return prefix;
}

/** The address with all but its first `bits` bits cleared. */
function maskAddr(a: Addr, bits: number): Addr {
  const bytes = a.bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  return { bytes, zone: a.zone };
}

const sameAddr = (a: Addr, b: Addr) =>
  a.bytes.length === b.bytes.length && a.bytes.every((x, i) => x === b.bytes[i]);

function prefixContains(p: Prefix, a: Addr): boolean {
  if (a.zone || is4(a) !== is4(p.addr)) return false;
  return sameAddr(maskAddr(a, p.bits), maskAddr(p.addr, p.bits));
}

/** netip.Prefix.Overlaps, and containment as Kubernetes checks it (overlap and no shorter prefix). */
function prefixContainsPrefix(p: Prefix, o: Prefix): boolean {
  if (is4(p.addr) !== is4(o.addr)) return false;
  const bits = Math.min(p.bits, o.bits);
  return sameAddr(maskAddr(p.addr, bits), maskAddr(o.addr, bits)) && p.bits <= o.bits;
}

const prefixString = (p: Prefix) => `${addrString(p.addr)}/${p.bits}`;
const ipValue = (a: Addr) => opaque('IP', addrString(a));
const cidrValue = (p: Prefix) => opaque('CIDR', prefixString(p));
const addrOf = (v: unknown) => parseAddr(opaqueValue(v));
const prefixOf = (v: unknown) => parsePrefix(opaqueValue(v));

const succeeds = (parse: (s: string) => unknown) => (s: string) => {
  try {
    parse(s);
    return true;
  } catch {
    return false;
  }
};

function ipPredicate(name: string, test: (a: Addr) => boolean): CelFunc {
  return celMethod(name, IP, [], BOOL, function () {
    return test(addrOf(this));
  });
}

const isUnspecified = (a: Addr) => a.bytes.every((b) => b === 0);
const isLoopback = (a: Addr) =>
  is4(a) ? a.bytes[0] === 127 : a.bytes.slice(0, 15).every((b) => b === 0) && a.bytes[15] === 1;
const isMulticast = (a: Addr) => (is4(a) ? (a.bytes[0] & 0xf0) === 0xe0 : a.bytes[0] === 0xff);
const isLinkLocalUnicast = (a: Addr) =>
  is4(a) ? a.bytes[0] === 169 && a.bytes[1] === 254 : (group(a, 0) & 0xffc0) === 0xfe80;

export const ipFuncs: CelFunc[] = [
  celFunc('ip', [STRING], IP, (s) => ipValue(parseIP(s))),
  celFunc('isIP', [STRING], BOOL, succeeds(parseIP)),
  // A namespaced function: @bufbuild/cel resolves `ip.isCanonical(s)` to this name.
  celFunc('ip.isCanonical', [STRING], BOOL, (s) => addrString(parseIP(s)) === s),
  celFunc('string', [IP], STRING, (ip) => opaqueValue(ip)),
  celMethod('family', IP, [], INT, function () {
    return is4(addrOf(this)) ? 4n : 6n;
  }),
  ipPredicate('isUnspecified', isUnspecified),
  ipPredicate('isLoopback', isLoopback),
  ipPredicate('isLinkLocalMulticast', (a) =>
    is4(a) ? a.bytes[0] === 224 && a.bytes[1] === 0 && a.bytes[2] === 0 : (group(a, 0) & 0xff0f) === 0xff02,
  ),
  ipPredicate('isLinkLocalUnicast', isLinkLocalUnicast),
  ipPredicate(
    'isGlobalUnicast',
    (a) =>
      !(is4(a) && a.bytes.every((b) => b === 255)) &&
      !isUnspecified(a) &&
      !isLoopback(a) &&
      !isMulticast(a) &&
      !isLinkLocalUnicast(a),
  ),
];

export const cidrFuncs: CelFunc[] = [
  celFunc('cidr', [STRING], CIDR, (s) => cidrValue(parseCIDR(s))),
  celFunc('isCIDR', [STRING], BOOL, succeeds(parseCIDR)),
  celFunc('string', [CIDR], STRING, (cidr) => opaqueValue(cidr)),
  celMethod('containsIP', CIDR, [IP], BOOL, function (ip) {
    return prefixContains(prefixOf(this), addrOf(ip));
  }),
  celMethod('containsIP', CIDR, [STRING], BOOL, function (s) {
    let addr: Addr;
    try {
      addr = parseIP(s);
    } catch {
      // Kubernetes loses the parse error here and reports the failed overload instead.
      throw new Error('no such overload');
    }
    return prefixContains(prefixOf(this), addr);
  }),
  celMethod('containsCIDR', CIDR, [CIDR], BOOL, function (other) {
    return prefixContainsPrefix(prefixOf(this), prefixOf(other));
  }),
  celMethod('containsCIDR', CIDR, [STRING], BOOL, function (s) {
    return prefixContainsPrefix(prefixOf(this), parseCIDR(s));
  }),
  celMethod('ip', CIDR, [], IP, function () {
    return ipValue(prefixOf(this).addr);
  }),
  celMethod('masked', CIDR, [], CIDR, function () {
    const p = prefixOf(this);
    return cidrValue({ addr: maskAddr(p.addr, p.bits), bits: p.bits });
  }),
  celMethod('prefixLength', CIDR, [], INT, function () {
    return BigInt(prefixOf(this).bits);
  }),
];
