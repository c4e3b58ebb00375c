/**
 * RFC 6902 JSON patch with the semantics, bounds and error texts of the library kube-apiserver uses
 * (gopkg.in/evanphx/json-patch.v4): pointers resolve through own properties only (so `__proto__` or
 * `constructor` are missing paths, never Object's members), negative array indices count from the
 * end, `copy` adds the JSON size of every copied value to an accumulated total that is checked BEFORE
 * the value is copied (jsonpatch.AccumulatedCopySizeLimit), and a failing operation is an error whose
 * text names the operation and path, never the document.
 *
 * Hand-written instead of fast-json-patch: that library has no copy-size accounting (one 1.4 KB patch
 * of 25 self-copies grew to 4 GB), traverses inherited properties (`/spec/constructor/x` reaches the
 * Object constructor; only `__proto__` and `constructor/prototype` are banned, by throwing TypeError),
 * and its errors embed the whole document.
 */
import { jsonEqual } from '../../shared/json-equal';

export class JsonPatchApplyError extends Error {}

type Container = Record<string, unknown> | unknown[];

const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

function decodeKey(k: string): string {
  return k.replace(/~1/g, '/').replace(/~0/g, '~');
}

function own(obj: Record<string, unknown>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** strconv.Atoi plus evanphx's negative indices; undefined when out of [−len, len). */
function arrayIndex(arr: unknown[], key: string, forInsert: boolean): number | undefined {
  if (!/^-?\d+$/.test(key)) return undefined;
  let i = Number(key);
  const size = forInsert ? arr.length + 1 : arr.length;
  if (i < 0) {
    if (i < -size) return undefined;
    i += size;
  }
  return i < size ? i : undefined;
}

function get(con: Container, key: string): unknown {
  if (Array.isArray(con)) {
    const i = arrayIndex(con, key, false);
    return i === undefined ? undefined : con[i];
  }
  return own(con, key) ? con[key] : undefined;
}

/** evanphx findObject: the container holding the last path segment, and that segment decoded. */
function findObject(doc: unknown, path: string): [Container, string] | undefined {
  if (!isContainer(doc)) return undefined;
  const parts = path.split('/');
  if (parts[0] !== '') return undefined;
  let con: Container = doc;
  for (const part of parts.slice(1, -1)) {
    const next = get(con, decodeKey(part));
    if (!isContainer(next)) return undefined;
    con = next;
  }
  return [con, decodeKey(parts[parts.length - 1])];
}

const invalidIndex = (key: string) =>
  new JsonPatchApplyError(`Unable to access invalid index: ${key}: invalid index referenced`);

function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else obj[key] = value;
}

function add(con: Container, key: string, value: unknown): void {
  if (!Array.isArray(con)) return setOwn(con, key, value);
  if (key === '-') {
    con.push(value);
    return;
  }
  const i = arrayIndex(con, key, true);
  if (i === undefined) throw invalidIndex(key);
  con.splice(i, 0, value);
}

function remove(con: Container, key: string): void {
  if (Array.isArray(con)) {
    const i = arrayIndex(con, key, false);
    if (i === undefined) throw invalidIndex(key);
    con.splice(i, 1);
    return;
  }
  if (!own(con, key)) {
    throw new JsonPatchApplyError(`Unable to remove nonexistent key: ${key}: missing value`);
  }
  delete con[key];
}

function has(con: Container, key: string): boolean {
  return Array.isArray(con) ? arrayIndex(con, key, false) !== undefined : own(con, key);
}

/** JSON text of a value, or a patch error when it nests too deeply to serialize. */
function serialize(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (e) {
    if (e instanceof RangeError) throw new JsonPatchApplyError('the patched object nests too deeply');
    throw e;
  }
}

export interface JsonPatchOptions {
  /** 0 disables the check, as in evanphx. */
  accumulatedCopySizeLimit: number;
}

/**
 * Applies `operations` to `doc` in place (the caller passes its own copy) and returns the result
 * (a different value only when the root is replaced). Operations must be objects: the caller has
 * decoded the patch (evanphx.DecodePatch) and checked the operation count.
 */
export function applyJsonPatch(
  doc: unknown,
  operations: Record<string, unknown>[],
  options: JsonPatchOptions,
): unknown {
  let root = doc;
  let copied = 0;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  for (const op of operations) {
    const kind = str(op.op) ?? 'unknown';
    const path = str(op.path);
    const from = str(op.from);
    // A fresh copy per application: a conflict retry applies the same decoded patch again.
    const value = op.value === undefined || op.op === 'remove' ? null : JSON.parse(serialize(op.value));
    switch (kind) {
      case 'add': {
        if (path === undefined)
          throw new JsonPatchApplyError('add operation failed to decode path: missing value');
        if (path === '') {
          root = value;
          break;
        }
        const found = findObject(root, path);
        if (!found)
          throw new JsonPatchApplyError(
            `add operation does not apply: doc is missing path: "${path}": missing value`,
          );
        add(found[0], found[1], value);
        break;
      }
      case 'remove': {
        if (path === undefined)
          throw new JsonPatchApplyError('remove operation failed to decode path: missing value');
        const found = findObject(root, path);
        if (!found)
          throw new JsonPatchApplyError(
            `remove operation does not apply: doc is missing path: "${path}": missing value`,
          );
        remove(found[0], found[1]);
        break;
      }
      case 'replace': {
        if (path === undefined)
          throw new JsonPatchApplyError('replace operation failed to decode path: missing value');
        if (path === '') {
          if (!isContainer(value))
            throw new JsonPatchApplyError('replace operation value must be object or array');
          root = value;
          break;
        }
        const found = findObject(root, path);
        if (!found)
          throw new JsonPatchApplyError(
            `replace operation does not apply: doc is missing path: ${path}: missing value`,
          );
        if (!has(found[0], found[1]))
          throw new JsonPatchApplyError(
            `replace operation does not apply: doc is missing key: ${path}: missing value`,
          );
        if (Array.isArray(found[0])) found[0][arrayIndex(found[0], found[1], false)!] = value;
        else setOwn(found[0], found[1], value);
        break;
      }
      case 'move':
      case 'copy': {
        if (from === undefined)
          throw new JsonPatchApplyError(`${kind} operation failed to decode from: missing value`);
        const source = findObject(root, from);
        if (!source || !has(source[0], source[1]))
          throw new JsonPatchApplyError(
            `${kind} operation does not apply: doc is missing from path: ${from}: missing value`,
          );
        let moved = get(source[0], source[1]);
        if (kind === 'move') remove(source[0], source[1]);
        else {
          const text = serialize(moved);
          copied += Buffer.byteLength(text);
          if (options.accumulatedCopySizeLimit > 0 && copied > options.accumulatedCopySizeLimit) {
            throw new JsonPatchApplyError(
              `Unable to complete the copy, the accumulated size increase of copy is ${copied}, exceeding the limit ${options.accumulatedCopySizeLimit}`,
            );
          }
          moved = JSON.parse(text);
        }
        if (path === undefined)
          throw new JsonPatchApplyError(`${kind} operation failed to decode path: missing value`);
        // Moving a value into its own child finds the destination gone (RFC 6902 4.4 forbids it).
        const target = findObject(root, path);
        if (!target)
          throw new JsonPatchApplyError(
            `${kind} operation does not apply: doc is missing destination path: ${path}: missing value`,
          );
        add(target[0], target[1], moved);
        break;
      }
      case 'test': {
        if (path === undefined)
          throw new JsonPatchApplyError('test operation failed to decode path: missing value');
        let actual: unknown = root;
        if (path !== '') {
          const found = findObject(root, path);
          if (!found)
            throw new JsonPatchApplyError(
              `test operation does not apply: is missing path: ${path}: missing value`,
            );
          actual = get(found[0], found[1]);
        }
        let equal: boolean;
        try {
          equal = jsonEqual(actual ?? null, value);
        } catch (e) {
          if (e instanceof RangeError) throw new JsonPatchApplyError('the patched object nests too deeply');
          throw e;
        }
        if (!equal) throw new JsonPatchApplyError(`testing value ${path} failed: test failed`);
        break;
      }
      default:
        throw new JsonPatchApplyError(`Unexpected kind: ${kind}`);
    }
  }
  return root;
}
