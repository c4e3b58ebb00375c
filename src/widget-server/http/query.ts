/**
 * The request's query string, read once and the same way everywhere, as kube-apiserver's parameter codec
 * reads it (apimachinery runtime/conversion.go): a scalar parameter given more than once takes its FIRST
 * value, booleans are true unless absent, "0" or "false", and list parameters (dryRun) keep every value.
 * Authorization, routing and every handler read this one object: if two readers picked different values of
 * a repeated parameter, a request could be authorized for one thing and served as another.
 */

export class RequestQuery {
  private constructor(private readonly values: ReadonlyMap<string, readonly string[]>) {}

  /** Parses the query part of a request URL (`/path?a=1&a=2`); `+` is a space, as in Go's url.ParseQuery. */
  static fromUrl(url: string): RequestQuery {
    const q = url.indexOf('?');
    return RequestQuery.fromString(q < 0 ? '' : url.slice(q + 1));
  }

  static fromString(search: string): RequestQuery {
    const values = new Map<string, string[]>();
    // URLSearchParams never throws: malformed escapes are kept as written.
    for (const [key, value] of new URLSearchParams(search)) {
      const list = values.get(key);
      if (list) list.push(value);
      else values.set(key, [value]);
    }
    return new RequestQuery(values);
  }

  static fromRecord(record: Record<string, string | string[]>): RequestQuery {
    const values = new Map<string, string[]>();
    for (const [key, value] of Object.entries(record)) values.set(key, ([] as string[]).concat(value));
    return new RequestQuery(values);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  /** The first value of a parameter, as the parameter codec converts []string to string. */
  get(key: string): string | undefined {
    return this.values.get(key)?.[0];
  }

  /** Every value of a list parameter, in order. */
  all(key: string): readonly string[] {
    return this.values.get(key) ?? [];
  }

  /** A boolean parameter as Convert_Slice_string_To_bool reads it. */
  bool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    return !(v === '0' || v.toLowerCase() === 'false');
  }
}
