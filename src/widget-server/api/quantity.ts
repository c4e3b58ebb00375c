/**
 * Kubernetes quantities (k8s.io/apimachinery/pkg/api/resource/quantity.go): ParseQuantity, exact, with
 * the form resource.Quantity would hold each value in (a scaled int64, or a big decimal once parsing or
 * arithmetic leaves int64), and the arithmetic CEL's quantity library needs. Validation reads a Widget's
 * resources with it; admission/cel/quantity.ts builds the CEL functions on it. It loads no CEL: the
 * server's start-up should not pay for the CEL runtime to validate a quantity.
 */

/** Inputs are bounded so that no policy can build huge numbers: Kubernetes itself sets no bound. */
export const MAX_QUANTITY_LENGTH = 1024;
export const MAX_QUANTITY_EXPONENT = 1024;

const FORMAT_ERROR =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NUMERIC_ERROR = 'unable to parse numeric part of quantity';
const SUFFIX_ERROR = "unable to parse quantity's suffix";

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const fitsInt64 = (v: bigint) => v >= INT64_MIN && v <= INT64_MAX;
const pow10 = (n: number) => 10n ** BigInt(n);

/**
 * A quantity's amount as resource.Quantity holds it: `int` is value × 10^scale in an int64, `dec` is
 * unscaled × 10^-scale (inf.Dec's upside-down scale) for everything else.
 */
export type Amount =
  { kind: 'int'; value: bigint; scale: number } | { kind: 'dec'; unscaled: bigint; scale: number };

function asDec(a: Amount): { unscaled: bigint; scale: number } {
  return a.kind === 'int' ? { unscaled: a.value, scale: -a.scale } : a;
}

/** The amount in nano-units; every amount is a whole number of them. */
export function nanos(a: Amount): bigint {
  const { unscaled, scale } = asDec(a);
  return scale <= 9 ? unscaled * pow10(9 - scale) : unscaled / pow10(scale - 9);
}

interface Scanned {
  negative: boolean;
  /** The number as written, sign and leading zeros included. */
  number: string;
  whole: string;
  fraction: string;
  suffix: string;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** Splits a quantity into sign, whole and fractional digits and suffix, as ParseQuantity's scanner. */
function scan(s: string): Scanned {
  let i = 0;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') negative = s[i++] === '-';
  while (s[i] === '0') i++;
  if (i === s.length) return { negative, number: '0', whole: '0', fraction: '', suffix: '' };
  const wholeStart = i;
  while (isDigit(s[i])) i++;
  const whole = s.slice(wholeStart, i) || '0';
  let fraction = '';
  if (s[i] === '.') {
    const start = ++i;
    while (isDigit(s[i])) i++;
    fraction = s.slice(start, i);
  }
  const number = s.slice(0, i);
  const suffixStart = i;
  while (i < s.length && 'eEinumkKMGTP'.includes(s[i])) i++;
  if (s[i] === '+' || s[i] === '-') i++;
  while (isDigit(s[i])) i++;
  if (i < s.length) throw new Error(FORMAT_ERROR);
  return { negative, number, whole, fraction, suffix: s.slice(suffixStart) };
}

const DECIMAL_SUFFIXES: Record<string, number> = {
  '': 0,
  n: -9,
  u: -6,
  m: -3,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

function interpretSuffix(suffix: string): { base: 2 | 10; exponent: number } {
  if (Object.hasOwn(DECIMAL_SUFFIXES, suffix)) return { base: 10, exponent: DECIMAL_SUFFIXES[suffix] };
  if (Object.hasOwn(BINARY_SUFFIXES, suffix)) return { base: 2, exponent: BINARY_SUFFIXES[suffix] };
  if (
    suffix.length > 1 &&
    (suffix[0] === 'e' || suffix[0] === 'E') &&
    /^[+-]?[0-9]+$/.test(suffix.slice(1))
  ) {
    const exponent = BigInt(suffix.slice(1));
    if (!fitsInt64(exponent)) throw new Error(SUFFIX_ERROR);
    if (exponent > BigInt(MAX_QUANTITY_EXPONENT) || exponent < BigInt(-MAX_QUANTITY_EXPONENT))
      throw new Error(`quantity exponent ${exponent} is beyond the supported ±${MAX_QUANTITY_EXPONENT}`);
    return { base: 10, exponent: Number(exponent) };
  }
  throw new Error(SUFFIX_ERROR);
}

/** ParseQuantity: exact, rounding up (away from zero) below a nano-unit, binary suffixes capped at int64. */
export function parseQuantity(s: string): Amount {
  if (s.length > MAX_QUANTITY_LENGTH)
    throw new Error(`quantity is longer than ${MAX_QUANTITY_LENGTH} characters`);
  if (s === '') throw new Error(FORMAT_ERROR);
  if (s === '0') return { kind: 'int', value: 0n, scale: 0 };
  const { negative, number, whole, fraction, suffix } = scan(s);
  const { base, exponent } = interpretSuffix(suffix);

  // Small enough for an int64 at a scale no finer than nano: the int form.
  let precision: number;
  let scale = 0;
  let multiplier = 1n;
  if (base === 10) {
    scale = exponent;
    precision = 18 - whole.length - fraction.length;
  } else if (fraction === '') {
    multiplier = 1n << BigInt(exponent);
    precision = 15 - whole.length - (exponent * 3) / 10 - 1;
  } else {
    precision = -1;
  }
  if (precision >= 0 && scale - fraction.length >= -9) {
    const value = BigInt(whole + fraction) * multiplier;
    if (fitsInt64(value))
      return { kind: 'int', value: negative ? -value : value, scale: scale - fraction.length };
  }

  // Otherwise a decimal, rounded up to nano-units.
  if (!/[0-9]/.test(number)) throw new Error(NUMERIC_ERROR);
  const point = number.indexOf('.');
  let unscaled = BigInt(number.replace('.', '') || '0');
  let decScale = point < 0 ? 0 : number.length - point - 1;
  if (base === 10) decScale -= exponent;
  else unscaled <<= BigInt(exponent);
  let magnitude = unscaled < 0n ? -unscaled : unscaled;
  if (magnitude !== 0n) {
    if (decScale <= 9) magnitude *= pow10(9 - decScale);
    else {
      const divisor = pow10(decScale - 9);
      magnitude = (magnitude + divisor - 1n) / divisor;
    }
    decScale = 9;
    if (base === 2 && magnitude > INT64_MAX * pow10(9)) {
      magnitude = INT64_MAX;
      decScale = 0;
    }
  }
  return { kind: 'dec', unscaled: unscaled < 0n ? -magnitude : magnitude, scale: decScale };
}

/** int64Amount's addition: undefined when the result leaves int64. */
function addInt(
  a: { value: bigint; scale: number },
  b: { value: bigint; scale: number },
): Amount | undefined {
  if (b.value === 0n) return { kind: 'int', ...a };
  if (a.value === 0n) return { kind: 'int', ...b };
  const scale = Math.min(a.scale, b.scale);
  const x = a.value * pow10(a.scale - scale);
  const y = b.value * pow10(b.scale - scale);
  if (!fitsInt64(x) || !fitsInt64(y) || !fitsInt64(x + y)) return undefined;
  return { kind: 'int', value: x + y, scale };
}

function addDec(a: Amount, b: Amount, sign: 1n | -1n): Amount {
  const x = asDec(a);
  const y = asDec(b);
  const scale = Math.max(x.scale, y.scale);
  const unscaled = x.unscaled * pow10(scale - x.scale) + sign * y.unscaled * pow10(scale - y.scale);
  return { kind: 'dec', unscaled, scale };
}

export function add(a: Amount, b: Amount): Amount {
  return (a.kind === 'int' && b.kind === 'int' && addInt(a, b)) || addDec(a, b, 1n);
}

export function sub(a: Amount, b: Amount): Amount {
  // The negation wraps in int64 as Go's does (only -2^63 is affected).
  const negated = b.kind === 'int' && { value: BigInt.asIntN(64, -b.value), scale: b.scale };
  return (a.kind === 'int' && negated && addInt(a, negated)) || addDec(a, b, -1n);
}

/** AsInt64: only the int form at a non-negative scale converts. */
export function asInt64(a: Amount): bigint | undefined {
  if (a.kind !== 'int' || a.scale < 0) return undefined;
  const v = a.value * pow10(a.scale);
  return fitsInt64(v) ? v : undefined;
}

/** Go's math.Pow10: products of exact table entries, so results match kube-apiserver's to the bit. */
function goPow10(n: number): number {
  const small = (k: number) => Number(`1e${k}`);
  if (n >= 0 && n <= 308) return Number(`1e${32 * Math.floor(n / 32)}`) * small(n % 32);
  if (n < 0 && n >= -323) return Number(`1e-${32 * Math.floor(-n / 32)}`) / small(-n % 32);
  return n > 0 ? Infinity : 0;
}

export function asApproximateFloat(a: Amount): number {
  const [base, exponent] = a.kind === 'int' ? [Number(a.value), a.scale] : [Number(a.unscaled), -a.scale];
  return exponent === 0 ? base : base * goPow10(exponent);
}

/**
 * A quantity's value in nano-units, as kube-apiserver holds it, or why it is not one (the same parser
 * as CEL's `quantity()`, so a Widget's resources are read exactly as a container's).
 */
export function quantityNanos(s: string): { nanos: bigint } | { error: string } {
  try {
    return { nanos: nanos(parseQuantity(s)) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
