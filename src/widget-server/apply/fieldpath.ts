/**
 * Field sets, as sigs.k8s.io/structured-merge-diff's fieldpath package defines them: a set of paths
 * into an object, each step a path element (a field `f:name`, a list item by its keys
 * `k:{"type":"Ready"}`, a set member by value `v:"x"`, or an index `i:3`), stored as a trie of members
 * (leaves) and children. FieldsV1, the form in metadata.managedFields, is its JSON serialization: one
 * object key per element, `{}` for a leaf, and `"."` inside a child for "this node is a member too".
 * Path elements are kept in their serialized form, made canonical (key fields sorted), so that equal
 * elements are equal strings.
 */

export type PathElement = string;

/** A field name's path element. */
export const fieldElement = (name: string): PathElement => `f:${name}`;

/** A list item's path element by its key fields (sorted, as structured-merge-diff sorts them). */
export function keyElement(keys: Record<string, unknown>): PathElement {
  const sorted = Object.keys(keys)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(keys[k])}`);
  return `k:{${sorted.join(',')}}`;
}

/** A set member's path element by its value. */
export const valueElement = (value: unknown): PathElement => `v:${JSON.stringify(value)}`;

export const indexElement = (index: number): PathElement => `i:${index}`;

const TYPE_ORDER: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 };

/** structured-merge-diff's PathElement.Compare order: fields, then keys, values and indices. */
export function comparePathElements(a: PathElement, b: PathElement): number {
  const ta = TYPE_ORDER[a[0]] ?? 4;
  const tb = TYPE_ORDER[b[0]] ?? 4;
  if (ta !== tb) return ta - tb;
  if (a[0] === 'i') return Number(a.slice(2)) - Number(b.slice(2));
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Reads a serialized path element, checking its form (FieldsV1 from a client is untrusted input). */
export function parsePathElement(s: string): PathElement {
  if (s.length < 2 || s[1] !== ':')
    throw new Error(`path element ${JSON.stringify(s)} is missing its type prefix`);
  const body = s.slice(2);
  switch (s[0]) {
    case 'f':
      return s;
    case 'i':
      if (!/^\d+$/.test(body)) throw new Error(`path element ${JSON.stringify(s)} has an invalid index`);
      return s;
    case 'v':
      return valueElement(JSON.parse(body));
    case 'k': {
      const keys = JSON.parse(body) as unknown;
      if (typeof keys !== 'object' || keys === null || Array.isArray(keys))
        throw new Error(`path element ${JSON.stringify(s)} has keys that are not an object`);
      return keyElement(keys as Record<string, unknown>);
    }
    default:
      throw new Error(`path element ${JSON.stringify(s)} has an unknown type`);
  }
}

export class FieldSet {
  readonly members = new Set<PathElement>();
  readonly children = new Map<PathElement, FieldSet>();

  get empty(): boolean {
    return this.members.size === 0 && this.children.size === 0;
  }

  /** Adds a path (its last element a member). */
  insert(path: readonly PathElement[]): void {
    if (!path.length) return;
    let parent = path.length > 1 ? this.child(path[0]) : this;
    for (let i = 1; i < path.length - 1; i++) parent = parent.child(path[i]);
    parent.members.add(path[path.length - 1]);
  }

  child(pe: PathElement): FieldSet {
    let c = this.children.get(pe);
    if (!c) this.children.set(pe, (c = new FieldSet()));
    return c;
  }

  has(path: readonly PathElement[]): boolean {
    if (!path.length) return false;
    const parent = path.slice(0, -1).reduce<FieldSet | undefined>((node, pe) => node?.children.get(pe), this);
    return !!parent && parent.members.has(path[path.length - 1]);
  }

  /** Every member path, depth first. */
  paths(prefix: PathElement[] = []): PathElement[][] {
    const out: PathElement[][] = [];
    for (const m of this.members) out.push([...prefix, m]);
    for (const [pe, c] of this.children) out.push(...c.paths([...prefix, pe]));
    return out;
  }

  // Sets are not changed once built (insert is for building one), so the operations below return an
  // operand itself where the result equals it.

  union(other: FieldSet): FieldSet {
    if (other.empty) return this;
    if (this.empty) return other;
    const out = this.clone();
    out.addAll(other);
    return out;
  }

  private addAll(other: FieldSet): void {
    for (const m of other.members) this.members.add(m);
    for (const [pe, c] of other.children) this.child(pe).addAll(c);
  }

  /** Members of this set that are not members of `other` (children kept only where non-empty). */
  difference(other: FieldSet): FieldSet {
    if (other.empty || this.empty) return this;
    const out = new FieldSet();
    for (const m of this.members) if (!other.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      const o = other.children.get(pe);
      const d = o ? c.difference(o) : c;
      if (!d.empty) out.children.set(pe, d);
    }
    return out;
  }

  intersection(other: FieldSet): FieldSet {
    if (this.empty) return this;
    if (other.empty) return other;
    const out = new FieldSet();
    for (const m of this.members) if (other.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      const o = other.children.get(pe);
      if (!o) continue;
      const i = c.intersection(o);
      if (!i.empty) out.children.set(pe, i);
    }
    return out;
  }

  /** This set without `other`'s members and everything below them (RecursiveDifference). */
  recursiveDifference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (!other.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      if (other.members.has(pe)) continue;
      const o = other.children.get(pe);
      const d = o ? c.recursiveDifference(o) : c;
      if (!d.empty) out.children.set(pe, d);
    }
    return out;
  }

  equals(other: FieldSet): boolean {
    if (this.members.size !== other.members.size || this.children.size !== other.children.size) return false;
    for (const m of this.members) if (!other.members.has(m)) return false;
    for (const [pe, c] of this.children) {
      const o = other.children.get(pe);
      if (!o || !c.equals(o)) return false;
    }
    return true;
  }

  clone(): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) out.members.add(m);
    for (const [pe, c] of this.children) out.children.set(pe, c.clone());
    return out;
  }

  /** FieldsV1: the JSON form managedFields carry, keys in structured-merge-diff's order. */
  toFieldsV1(): Record<string, unknown> {
    return this.emit(false);
  }

  private emit(includeSelf: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (includeSelf && !this.empty) out['.'] = {};
    const elements = new Set<PathElement>([...this.members, ...this.children.keys()]);
    for (const pe of [...elements].sort(comparePathElements)) {
      const c = this.children.get(pe);
      out[pe] = c ? c.emit(this.members.has(pe)) : {};
    }
    return out;
  }

  /** Reads FieldsV1; throws on anything that is not one (the caller turns that into a 400 or 422). */
  static fromFieldsV1(json: unknown, depth = 0): FieldSet {
    if (depth > 100) throw new Error('fieldsV1 is nested too deeply');
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw new Error('fieldsV1 must be an object');
    const out = new FieldSet();
    for (const [key, value] of Object.entries(json)) {
      if (key === '.') continue;
      const pe = parsePathElement(key);
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new Error(`fieldsV1 entry ${JSON.stringify(key)} must be an object`);
      const inner = value as Record<string, unknown>;
      const keys = Object.keys(inner);
      if (keys.length === 0) {
        out.members.add(pe);
        continue;
      }
      if (Object.hasOwn(inner, '.')) out.members.add(pe);
      const child = FieldSet.fromFieldsV1(inner, depth + 1);
      if (!child.empty) out.children.set(pe, child);
    }
    return out;
  }
}

/** A path for messages, as structured-merge-diff prints it: `.spec.replicas`, `.status.conditions[type="Ready"]`. */
export function pathString(path: readonly PathElement[]): string {
  return path
    .map((pe) => {
      const body = pe.slice(2);
      switch (pe[0]) {
        case 'f':
          return `.${body}`;
        case 'i':
          return `[${body}]`;
        case 'v':
          return `[=${body}]`;
        default: {
          const keys = JSON.parse(body) as Record<string, unknown>;
          return `[${Object.entries(keys)
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(',')}]`;
        }
      }
    })
    .join('');
}
