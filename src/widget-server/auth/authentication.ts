/**
 * Delegated authentication, in k8s.io/apiserver's order (authenticatorfactory/delegating.go):
 * 1. request headers (X-Remote-User, -Uid, -Group, -Extra-*) — trusted ONLY when the connection presented
 *    a client certificate that chains to the requestheader client CA and whose CN is an allowed name;
 * 2. an x509 client certificate chaining to the client CA (CN is the user, O values the groups);
 * 3. a bearer token, reviewed by kube-apiserver's TokenReview (success and failure cached 10 s);
 * 4. anonymous.
 * Certificate chains are verified here rather than by the TLS stack because two different CAs (front
 * proxy and clients) apply to one listener and both change at run time with the ConfigMap. A connection's
 * peer certificate cannot change once the handshake is done (the listener refuses renegotiation, as Go's
 * does), so what the chain proves is worked out once per connection and configuration, and kept until the
 * first certificate of the verified path expires: reading and verifying the chain on every request cost
 * more CPU than serving it (38% of a standalone run's profile, nearly all of it in getPeerCertificate and
 * X509Certificate).
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import { ApiError, serviceUnavailable, unauthorized } from '../../shared/status-errors';
import { describeReviewFailure } from './review-failure';

export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

export interface RequestHeaderConfig {
  /** PEM bundle of CAs that sign front-proxy client certificates. */
  clientCA: string;
  allowedNames: string[];
  usernameHeaders: string[];
  uidHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
}

export interface AuthenticationConfig {
  /** PEM bundle of CAs for client certificate authentication. */
  clientCA?: string;
  requestHeader?: RequestHeaderConfig;
}

export interface TokenReviewer {
  /** Resolves to the user, or undefined when kube-apiserver says the token is not authenticated. */
  review(token: string): Promise<UserInfo | undefined>;
}

/** Minimal view of a request for authentication, so it can be tested without HTTP. */
export interface AuthnRequest {
  headers: IncomingHttpHeaders;
  /** Each header's values kept apart: Node joins repeated custom headers with ", " in `headers`. */
  headersDistinct?: Record<string, string[] | undefined>;
  socket: unknown;
}

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';
/** k8s.io/apiserver's delegated token cache TTLs (authentication.go: 10 s for both outcomes). */
const TOKEN_CACHE_TTL_MS = 10_000;

function parseBundle(pem: string | undefined): X509Certificate[] {
  if (!pem) return [];
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const certs: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      certs.push(new X509Certificate(block));
    } catch {
      // A malformed entry in a bundle is skipped, like Go's AppendCertsFromPEM.
    }
  }
  return certs;
}

/** What a connection's certificate chain proves, under one authentication configuration. */
interface ConnectionIdentity {
  generation: number;
  /** Until then the verification below stands; after it, verify again (and fail: a certificate expired). */
  validUntil: number;
  /** The CN of a leaf verified against the requestheader CA, or undefined when it does not verify. */
  requestHeaderCN?: string;
  /** The user of a leaf verified against the client CA. */
  clientUser?: UserInfo;
}

function validNow(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}

/** The peer's certificate chain, leaf first, as presented on the TLS connection. */
export function peerChain(socket: unknown): X509Certificate[] {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function') return [];
  let peer = tls.getPeerCertificate(true) as PeerCertificate & { issuerCertificate?: PeerCertificate };
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  while (peer && peer.raw && !seen.has(peer.fingerprint256)) {
    seen.add(peer.fingerprint256);
    chain.push(new X509Certificate(peer.raw));
    peer = peer.issuerCertificate as typeof peer;
  }
  return chain;
}

/**
 * Verifies that `chain[0]` is a valid client certificate issued (directly or through the presented
 * intermediates) by one of `roots`. Returns the verified leaf or undefined.
 */
export function verifyClientChain(
  chain: X509Certificate[],
  roots: X509Certificate[],
  now = new Date(),
): X509Certificate | undefined {
  return verifiedPath(chain, roots, now)?.leaf;
}

/** The verified leaf and when the first certificate on its path to the root expires. */
function verifiedPath(
  chain: X509Certificate[],
  roots: X509Certificate[],
  now: Date,
): { leaf: X509Certificate; validUntil: number } | undefined {
  if (!chain.length || !roots.length) return undefined;
  const leaf = chain[0];
  const eku = leaf.keyUsage;
  if (eku && eku.length && !eku.includes(CLIENT_AUTH_EKU) && !eku.includes(ANY_EKU)) return undefined;
  let current = leaf;
  let validUntil = Infinity;
  for (let depth = 0; depth < 5; depth++) {
    if (!validNow(current, now)) return undefined;
    validUntil = Math.min(validUntil, new Date(current.validTo).getTime());
    const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root) {
      if (!validNow(root, now)) return undefined;
      return { leaf, validUntil: Math.min(validUntil, new Date(root.validTo).getTime()) };
    }
    const intermediate = chain.find(
      (c) => c !== current && c.ca && current.checkIssued(c) && current.verify(c.publicKey),
    );
    if (!intermediate) return undefined;
    current = intermediate;
  }
  return undefined;
}

function subjectField(cert: X509Certificate, field: 'CN' | 'O'): string[] {
  return cert.subject
    .split('\n')
    .filter((line) => line.startsWith(`${field}=`))
    .map((line) => line.slice(field.length + 1));
}

type HeaderSource = Pick<AuthnRequest, 'headers' | 'headersDistinct'>;

/** All values of a header; the aggregator sends one X-Remote-Group header per group. */
function headerValues(req: HeaderSource, name: string): string[] {
  const key = name.toLowerCase();
  const distinct = req.headersDistinct?.[key];
  if (distinct) return distinct;
  const v = req.headers[key];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

export class DelegatingAuthenticator {
  private config: AuthenticationConfig = {};
  private clientRoots: X509Certificate[] = [];
  private requestHeaderRoots: X509Certificate[] = [];
  /** Bumped by every configuration change, so connections verified under an older one verify again. */
  private generation = 0;
  private readonly connections = new WeakMap<object, ConnectionIdentity>();
  private readonly tokenCache = new LRUCache<string, { user?: UserInfo }>({
    max: 4096,
    ttl: TOKEN_CACHE_TTL_MS,
  });

  constructor(
    config: AuthenticationConfig,
    private readonly tokens?: TokenReviewer,
    private readonly allowAnonymous = true,
  ) {
    this.setConfig(config);
  }

  /** Swaps the CAs and header names at run time (the ConfigMap changed). */
  setConfig(config: AuthenticationConfig): void {
    this.config = config;
    this.generation++;
    this.clientRoots = parseBundle(config.clientCA);
    this.requestHeaderRoots = parseBundle(config.requestHeader?.clientCA);
  }

  getConfig(): AuthenticationConfig {
    return this.config;
  }

  async authenticate(req: AuthnRequest): Promise<UserInfo> {
    const identity = this.connectionIdentity(req.socket);
    const fromHeaders = this.fromRequestHeaders(req, identity);
    if (fromHeaders) return withAuthenticated(fromHeaders);
    if (identity.clientUser) return withAuthenticated(identity.clientUser);
    const authorization = headerValues(req, 'authorization')[0];
    if (authorization) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw unauthorized();
      return withAuthenticated(await this.fromToken(match[1]));
    }
    if (!this.allowAnonymous) throw unauthorized();
    return ANONYMOUS;
  }

  /** The connection's verified certificate identity, worked out on its first request (see the header). */
  private connectionIdentity(socket: unknown): ConnectionIdentity {
    const key = typeof socket === 'object' && socket !== null ? socket : undefined;
    const now = Date.now();
    const known = key && this.connections.get(key);
    if (known && known.generation === this.generation && now <= known.validUntil) return known;
    const chain = peerChain(socket);
    const identity: ConnectionIdentity = { generation: this.generation, validUntil: Infinity };
    const at = new Date(now);
    const viaProxy = this.config.requestHeader ? verifiedPath(chain, this.requestHeaderRoots, at) : undefined;
    if (viaProxy) {
      identity.requestHeaderCN = subjectField(viaProxy.leaf, 'CN')[0] ?? '';
      identity.validUntil = viaProxy.validUntil;
    }
    const asClient = verifiedPath(chain, this.clientRoots, at);
    const clientName = asClient && subjectField(asClient.leaf, 'CN')[0];
    if (asClient && clientName) {
      identity.clientUser = { name: clientName, groups: subjectField(asClient.leaf, 'O') };
      identity.validUntil = Math.min(identity.validUntil, asClient.validUntil);
    }
    if (key) this.connections.set(key, identity);
    return identity;
  }

  private fromRequestHeaders(req: HeaderSource, identity: ConnectionIdentity): UserInfo | undefined {
    const rh = this.config.requestHeader;
    if (!rh || identity.requestHeaderCN === undefined) return undefined;
    if (rh.allowedNames.length) {
      const cn = identity.requestHeaderCN;
      if (!cn || !rh.allowedNames.includes(cn)) {
        // A front-proxy-signed certificate with an unexpected name is refused outright.
        throw unauthorized();
      }
    }
    const name = rh.usernameHeaders.map((h) => headerValues(req, h)[0]).find((v) => v);
    if (!name) return undefined;
    const uid = rh.uidHeaders.map((h) => headerValues(req, h)[0]).find((v) => v);
    const groups = rh.groupHeaders.flatMap((h) => headerValues(req, h));
    const extra: Record<string, string[]> = {};
    const prefixes = rh.extraHeaderPrefixes.map((p) => p.toLowerCase());
    for (const header of Object.keys(req.headers)) {
      const prefix = prefixes.find((p) => header.startsWith(p));
      if (!prefix) continue;
      const value = headerValues(req, header);
      let key = header.slice(prefix.length).toLowerCase();
      try {
        key = decodeURIComponent(key);
      } catch {
        // Keep the raw key when it is not valid percent-encoding, as url.PathUnescape's caller does.
      }
      extra[key] = [...(extra[key] ?? []), ...value];
    }
    const user: UserInfo = { name, groups };
    if (uid) user.uid = uid;
    if (Object.keys(extra).length) user.extra = extra;
    return user;
  }

  private async fromToken(token: string): Promise<UserInfo> {
    const cached = this.tokenCache.get(token);
    if (cached) {
      if (!cached.user) throw unauthorized();
      return cached.user;
    }
    if (!this.tokens) throw unauthorized();
    let user: UserInfo | undefined;
    try {
      user = await this.tokens.review(token);
    } catch (e) {
      // The reviewer being down is not the client's fault, and never a pass.
      throw e instanceof ApiError
        ? e
        : serviceUnavailable(`token review is unavailable: ${describeReviewFailure(e)}`);
    }
    this.tokenCache.set(token, { user });
    if (!user) throw unauthorized();
    return user;
  }
}

function withAuthenticated(user: UserInfo): UserInfo {
  if (user.groups.includes('system:authenticated') || user.name === 'system:anonymous') return user;
  return { ...user, groups: [...user.groups, 'system:authenticated'] };
}
