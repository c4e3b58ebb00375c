/**
 * Kubernetes' CEL url library (k8s.io/apiserver/pkg/cel/library/urls.go, pkg/cel/url.go for the type):
 * url(), isURL(), getScheme, getHost, getHostname, getPort, getEscapedPath, getQuery. Kubernetes checks
 * a URL with Go's url.ParseRequestURI (an absolute URI or an absolute path) and keeps url.Parse's result,
 * so this follows net/url as kube-apiserver 1.34 is built with it (Go 1.24: bracketed hosts must be IPv6,
 * colons in other hosts are not checked beyond the port), byte for byte on the UTF-8 text. A URL's opaque
 * state is the URL reassembled as Go's URL.String() does, which is what Kubernetes' `==` compares.
 */
import { celFunc, celMethod, CelScalar, listType, mapType, type CelFunc } from '@bufbuild/cel';
import { goQuote, parseAddr } from './network';
import { opaque, opaqueType, opaqueValue } from './opaque';

const URL_TYPE = opaqueType('URL');
const { BOOL, STRING } = CelScalar;

/** Text as UTF-8 bytes, one char per byte, so that parsing and escaping work on bytes as Go's does. */
const toBytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const fromBytes = (b: string) => Buffer.from(b, 'latin1').toString('utf8');

type Mode = 'path' | 'host' | 'zone' | 'userPassword' | 'queryComponent' | 'fragment';

/** Whether a byte must be %-escaped in a part of a URL (net/url's shouldEscape). */
function shouldEscape(c: string, mode: Mode): boolean {
  if (/[a-zA-Z0-9]/.test(c)) return false;
  if ((mode === 'host' || mode === 'zone') && `!$&'()*+,;=:[]<>"`.includes(c)) return false;
  if ('-_.~'.includes(c)) return false;
  if ('$&+,/:;=?@'.includes(c)) {
    switch (mode) {
      case 'path':
        return c === '?';
      case 'userPassword':
        return '@/?:'.includes(c);
      case 'queryComponent':
        return true;
      case 'fragment':
        return false;
    }
  }
  return !(mode === 'fragment' && '!()*'.includes(c));
}

const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c);

/** %-decoding, with the checks net/url applies to hosts and zones. */
function unescape(s: string, mode: Mode): string {
  for (let i = 0; i < s.length;) {
    const c = s[i];
    if (c === '%') {
      if (!isHex(s[i + 1]) || !isHex(s[i + 2]))
        throw new Error(`invalid URL escape ${goQuote(fromBytes(s.slice(i, i + 3)))}`);
      const escaped = s.slice(i, i + 3);
      const byte = parseInt(s.slice(i + 1, i + 3), 16);
      if (mode === 'host' && byte < 0x80 && escaped !== '%25')
        throw new Error(`invalid URL escape ${goQuote(escaped)}`);
      if (
        mode === 'zone' &&
        escaped !== '%25' &&
        byte !== 0x20 &&
        shouldEscape(String.fromCharCode(byte), 'host')
      )
        throw new Error(`invalid URL escape ${goQuote(escaped)}`);
      i += 3;
    } else {
      if ((mode === 'host' || mode === 'zone') && c < '\x80' && shouldEscape(c, mode))
        throw new Error(`invalid character ${goQuote(c)} in host name`);
      i++;
    }
  }
  return s
    .replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(/\+/g, mode === 'queryComponent' ? ' ' : '+');
}

function escape(s: string, mode: Mode): string {
  let out = '';
  for (const c of s) {
    if (c === ' ' && mode === 'queryComponent') out += '+';
    else if (shouldEscape(c, mode)) out += `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
    else out += c;
  }
  return out;
}

/** A parsed URL: net/url's URL fields, in UTF-8 bytes. */
interface Url {
  scheme: string;
  opaque: string;
  user?: { username: string; password?: string };
  host: string;
  path: string;
  rawPath: string;
  rawQuery: string;
  fragment: string;
  rawFragment: string;
  forceQuery: boolean;
  omitHost: boolean;
}

function validOptionalPort(port: string): boolean {
  return port === '' || /^:[0-9]*$/.test(port);
}

function parseHost(host: string): string {
  const open = host.lastIndexOf('[');
  if (open >= 0) {
    const close = host.lastIndexOf(']');
    if (close < 0) throw new Error("missing ']' in host");
    const colonPort = host.slice(close + 1);
    if (!validOptionalPort(colonPort))
      throw new Error(`invalid port ${goQuote(fromBytes(colonPort))} after host`);
    const port = unescape(colonPort, 'host');
    const name = host.slice(open + 1, close);
    const zone = name.indexOf('%25');
    const unescaped =
      zone >= 0
        ? unescape(name.slice(0, zone), 'host') + unescape(name.slice(zone), 'zone')
        : unescape(name, 'host');
    // Only an IPv6 address may be bracketed.
    let v4: boolean;
    try {
      v4 = parseAddr(fromBytes(unescaped)).bytes.length === 4;
    } catch (e) {
      throw new Error(`invalid host: ${(e as Error).message}`);
    }
    if (v4) throw new Error('invalid IP-literal');
    return `[${unescaped}]${port}`;
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && !validOptionalPort(host.slice(colon)))
    throw new Error(`invalid port ${goQuote(fromBytes(host.slice(colon)))} after host`);
  return unescape(host, 'host');
}

function parseAuthority(authority: string): Pick<Url, 'user' | 'host'> {
  const at = authority.lastIndexOf('@');
  const host = parseHost(authority.slice(at + 1));
  if (at < 0) return { host };
  const userinfo = authority.slice(0, at);
  if (!/^[-A-Za-z0-9._:~!$&'()*+,;=%@]*$/.test(userinfo)) throw new Error('net/url: invalid userinfo');
  const colon = userinfo.indexOf(':');
  if (colon < 0) return { host, user: { username: unescape(userinfo, 'userPassword') } };
  return {
    host,
    user: {
      username: unescape(userinfo.slice(0, colon), 'userPassword'),
      password: unescape(userinfo.slice(colon + 1), 'userPassword'),
    },
  };
}

/** net/url's parse, for a request URI (absolute URI or absolute path) or any reference. */
function parseReference(raw: string, viaRequest: boolean): Url {
  if ([...raw].some((c) => c < ' ' || c === '\x7f'))
    throw new Error('net/url: invalid control character in URL');
  if (raw === '' && viaRequest) throw new Error('empty url');
  const url: Url = {
    scheme: '',
    opaque: '',
    host: '',
    path: '',
    rawPath: '',
    rawQuery: '',
    fragment: '',
    rawFragment: '',
    forceQuery: false,
    omitHost: false,
  };
  if (raw === '*') return { ...url, path: '*' };
  let rest = raw;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*)?:/.exec(raw);
  if (scheme) {
    if (!scheme[1]) throw new Error('missing protocol scheme');
    url.scheme = scheme[1].toLowerCase();
    rest = raw.slice(scheme[0].length);
  }
  if (rest.endsWith('?') && rest.indexOf('?') === rest.length - 1) {
    url.forceQuery = true;
    rest = rest.slice(0, -1);
  } else if (rest.includes('?')) {
    url.rawQuery = rest.slice(rest.indexOf('?') + 1);
    rest = rest.slice(0, rest.indexOf('?'));
  }
  if (!rest.startsWith('/')) {
    if (url.scheme) return { ...url, opaque: rest };
    if (viaRequest) throw new Error('invalid URI for request');
    if (rest.split('/')[0].includes(':')) throw new Error('first path segment in URL cannot contain colon');
  }
  if ((url.scheme || (!viaRequest && !rest.startsWith('///'))) && rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    rest = slash < 0 ? '' : rest.slice(slash);
    Object.assign(url, parseAuthority(authority));
  } else if (url.scheme && rest.startsWith('/')) {
    url.omitHost = true;
  }
  url.path = unescape(rest, 'path');
  url.rawPath = escape(url.path, 'path') === rest ? '' : rest;
  return url;
}

const parseError = (url: string, e: unknown) =>
  new Error(`parse ${goQuote(fromBytes(url))}: ${(e as Error).message}`);

function parseRequestURI(raw: string): Url {
  try {
    return parseReference(raw, true);
  } catch (e) {
    throw parseError(raw, e);
  }
}

/** url.Parse: a reference with an optional #fragment. */
function parseURL(raw: string): Url {
  const hash = raw.indexOf('#');
  const [ref, fragment] = hash < 0 ? [raw, ''] : [raw.slice(0, hash), raw.slice(hash + 1)];
  let url: Url;
  try {
    url = parseReference(ref, false);
  } catch (e) {
    throw parseError(ref, e);
  }
  if (fragment === '') return url;
  try {
    url.fragment = unescape(fragment, 'fragment');
  } catch (e) {
    throw parseError(raw, e);
  }
  url.rawFragment = escape(url.fragment, 'fragment') === fragment ? '' : fragment;
  return url;
}

/** Whether an escaped path or fragment needs no further escaping. */
function validEncoded(s: string, mode: Mode): boolean {
  return [...s].every((c) => `!$&'()*+,;=:@[]%`.includes(c) || !shouldEscape(c, mode));
}

/** The raw form if it is a valid escaping of the decoded one, else the decoded one escaped. */
function escapedForm(decoded: string, raw: string, mode: Mode): string {
  if (raw !== '' && validEncoded(raw, mode)) {
    try {
      if (unescape(raw, mode) === decoded) return raw;
    } catch {
      // fall through to escaping
    }
  }
  return mode === 'path' && decoded === '*' ? '*' : escape(decoded, mode);
}

/** URL.String(). */
function urlString(u: Url): string {
  let out = u.scheme ? `${u.scheme}:` : '';
  if (u.opaque) {
    out += u.opaque;
  } else {
    if ((u.scheme || u.host || u.user) && !(u.omitHost && !u.host && !u.user)) {
      if (u.host || u.path || u.user) out += '//';
      if (u.user) {
        out += escape(u.user.username, 'userPassword');
        if (u.user.password !== undefined) out += `:${escape(u.user.password, 'userPassword')}`;
        out += '@';
      }
      out += escape(u.host, 'host');
    }
    const path = escapedForm(u.path, u.rawPath, 'path');
    if (path && !path.startsWith('/') && u.host) out += '/';
    if (out === '' && path.split('/')[0].includes(':')) out += './';
    out += path;
  }
  if (u.forceQuery || u.rawQuery) out += `?${u.rawQuery}`;
  if (u.fragment) out += `#${escapedForm(u.fragment, u.rawFragment, 'fragment')}`;
  return out;
}

/** Host and port, a port only if numeric, without the brackets of an IPv6 literal. */
function splitHostPort(hostPort: string): [string, string] {
  let host = hostPort;
  let port = '';
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && validOptionalPort(host.slice(colon)))
    [host, port] = [host.slice(0, colon), host.slice(colon + 1)];
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return [host, port];
}

/** url.ParseQuery, its errors ignored as URL.Query() ignores them. */
function parseQuery(query: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  // Go's bound on the number of parameters; past it the query counts as empty.
  if (query.split('&').length > 10000) return values;
  for (const part of query.split('&')) {
    if (part === '' || part.includes(';')) continue;
    const eq = part.indexOf('=');
    try {
      const key = fromBytes(unescape(eq < 0 ? part : part.slice(0, eq), 'queryComponent'));
      const value = fromBytes(unescape(eq < 0 ? '' : part.slice(eq + 1), 'queryComponent'));
      values.set(key, [...(values.get(key) ?? []), value]);
    } catch {
      // an invalid escape drops the pair
    }
  }
  return values;
}

const urls = new WeakMap<object, Url>();

/** Kubernetes' url(): valid as a request URI, kept as url.Parse parses it. */
function toURL(s: string): Url {
  const bytes = toBytes(s);
  try {
    parseRequestURI(bytes);
    return parseURL(bytes);
  } catch (e) {
    throw new Error(`URL parse error during conversion from string: ${(e as Error).message}`);
  }
}

function urlOf(v: unknown): Url {
  return urls.get(v as object) ?? parseURL(toBytes(opaqueValue(v)));
}

function urlGetter(name: string, get: (u: Url) => string): CelFunc {
  return celMethod(name, URL_TYPE, [], STRING, function () {
    return fromBytes(get(urlOf(this)));
  });
}

export const urlFuncs: CelFunc[] = [
  celFunc('url', [STRING], URL_TYPE, (s) => {
    const url = toURL(s);
    const v = opaque('URL', fromBytes(urlString(url)));
    urls.set(v, url);
    return v;
  }),
  celFunc('isURL', [STRING], BOOL, (s) => {
    try {
      parseRequestURI(toBytes(s));
      return true;
    } catch {
      return false;
    }
  }),
  urlGetter('getScheme', (u) => u.scheme),
  urlGetter('getHost', (u) => u.host),
  urlGetter('getHostname', (u) => splitHostPort(u.host)[0]),
  urlGetter('getPort', (u) => splitHostPort(u.host)[1]),
  urlGetter('getEscapedPath', (u) => escapedForm(u.path, u.rawPath, 'path')),
  celMethod('getQuery', URL_TYPE, [], mapType(STRING, listType(STRING)), function () {
    return parseQuery(urlOf(this).rawQuery);
  }),
];
