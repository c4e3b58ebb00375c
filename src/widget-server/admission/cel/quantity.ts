/**
 * Kubernetes' CEL quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go), on the parser and
 * arithmetic of api/quantity.ts (apimachinery's resource.Quantity): quantity(),
 * isQuantity(), sign, isInteger, asInteger, asApproximateFloat, add, sub, isLessThan, isGreaterThan,
 * compareTo. Values are exact: the opaque state is the value in nano-units as a decimal integer (what
 * kube-apiserver rounds every quantity up to), so `==` compares values and quantity('1') ==
 * quantity('1000m'). Beside it each value keeps the form resource.Quantity would hold it in (a scaled
 * int64, or a big decimal once parsing or arithmetic leaves int64), because asInteger, isInteger and
 * asApproximateFloat answer from that form in Kubernetes, e.g. quantity('1.0').isInteger() is false.
 */
import { celFunc, celMethod, CelScalar, type CelFunc } from '@bufbuild/cel';
import type { ReflectMessage } from '@bufbuild/protobuf/reflect';
import { opaque, opaqueType, opaqueValue } from './opaque';
import { add, asApproximateFloat, asInt64, nanos, parseQuantity, sub, type Amount } from '../../api/quantity';

const QUANTITY = opaqueType('Quantity');
const { BOOL, DOUBLE, INT, STRING } = CelScalar;

/** The form of each quantity value made here, beside its state (which alone `==` compares). */
const amounts = new WeakMap<object, Amount>();

function quantityOf(a: Amount): ReflectMessage {
  const v = opaque('Quantity', nanos(a).toString());
  amounts.set(v, a);
  return v;
}

function amountOf(v: unknown): Amount {
  return amounts.get(v as object) ?? { kind: 'dec', unscaled: BigInt(opaqueValue(v)), scale: 9 };
}

const signOf = (n: bigint) => (n < 0n ? -1n : n > 0n ? 1n : 0n);
const compare = (a: unknown, b: unknown) => signOf(BigInt(opaqueValue(a)) - BigInt(opaqueValue(b)));

export const quantityFuncs: CelFunc[] = [
  celFunc('quantity', [STRING], QUANTITY, (s) => quantityOf(parseQuantity(s))),
  celFunc('isQuantity', [STRING], BOOL, (s) => {
    try {
      parseQuantity(s);
      return true;
    } catch {
      return false;
    }
  }),
  // Kubernetes declares sign as a global function, sign(q); its documentation shows q.sign(): both work.
  celFunc('sign', [QUANTITY], INT, (q) => signOf(BigInt(opaqueValue(q)))),
  celMethod('sign', QUANTITY, [], INT, function () {
    return signOf(BigInt(opaqueValue(this)));
  }),
  celMethod('isInteger', QUANTITY, [], BOOL, function () {
    return asInt64(amountOf(this)) !== undefined;
  }),
  celMethod('asInteger', QUANTITY, [], INT, function () {
    const v = asInt64(amountOf(this));
    if (v === undefined) throw new Error('cannot convert value to integer');
    return v;
  }),
  celMethod('asApproximateFloat', QUANTITY, [], DOUBLE, function () {
    return asApproximateFloat(amountOf(this));
  }),
  celMethod('add', QUANTITY, [QUANTITY], QUANTITY, function (other) {
    return quantityOf(add(amountOf(this), amountOf(other)));
  }),
  celMethod('add', QUANTITY, [INT], QUANTITY, function (n) {
    return quantityOf(add(amountOf(this), { kind: 'int', value: n, scale: 0 }));
  }),
  celMethod('sub', QUANTITY, [QUANTITY], QUANTITY, function (other) {
    return quantityOf(sub(amountOf(this), amountOf(other)));
  }),
  celMethod('sub', QUANTITY, [INT], QUANTITY, function (n) {
    return quantityOf(sub(amountOf(this), { kind: 'int', value: n, scale: 0 }));
  }),
  celMethod('isLessThan', QUANTITY, [QUANTITY], BOOL, function (other) {
    return compare(this, other) < 0n;
  }),
  celMethod('isGreaterThan', QUANTITY, [QUANTITY], BOOL, function (other) {
    return compare(this, other) > 0n;
  }),
  celMethod('compareTo', QUANTITY, [QUANTITY], INT, function (other) {
    return compare(this, other);
  }),
];
