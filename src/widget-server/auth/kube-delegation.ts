/**
 * The kube-apiserver side of delegated auth, over the shared REST client (one keep-alive connection
 * pool): TokenReview and SubjectAccessReview calls, and an informer on the
 * kube-system/extension-apiserver-authentication ConfigMap (narrowed by fieldSelector, which is all the
 * extension-apiserver-authentication-reader Role permits) that feeds the authenticator's CAs and header
 * names as they change.
 */
import type { Logger } from 'pino';
import type { AuthenticationConfig, TokenReviewer, UserInfo } from './authentication';
import type { AccessDecision, AccessReviewAttributes, AccessReviewer } from './authorization';
import { inClusterConfig, kubeconfigFromFile, type KubeClientConfig } from '../../shared/kube/client-config';
import { Informer } from '../../shared/kube/informer';
import { KubeRest, type KubeObject } from '../../shared/kube/rest';

export const AUTH_CONFIGMAP_NAMESPACE = 'kube-system';
export const AUTH_CONFIGMAP_NAME = 'extension-apiserver-authentication';
/** client timeout of k8s.io/apiserver's delegated webhooks. */
const REVIEW_TIMEOUT_MS = 10_000;

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

export class KubeTokenReviewer implements TokenReviewer {
  constructor(private readonly rest: KubeRest) {}

  async review(token: string): Promise<UserInfo | undefined> {
    const result = await this.rest.request<{ status?: TokenReviewStatus }>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
        timeoutMs: REVIEW_TIMEOUT_MS,
        signal: AbortSignal.timeout(REVIEW_TIMEOUT_MS),
      },
    );
    const status = result.status;
    if (!status?.authenticated || !status.user?.username) return undefined;
    const user: UserInfo = { name: status.user.username, groups: status.user.groups ?? [] };
    if (status.user.uid) user.uid = status.user.uid;
    if (status.user.extra) user.extra = status.user.extra;
    return user;
  }
}

export class KubeAccessReviewer implements AccessReviewer {
  constructor(private readonly rest: KubeRest) {}

  async review(attributes: AccessReviewAttributes): Promise<AccessDecision> {
    const { user } = attributes;
    const result = await this.rest.request<{
      status?: { allowed?: boolean; denied?: boolean; reason?: string };
    }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.name,
          uid: user.uid,
          groups: user.groups,
          extra: user.extra,
          resourceAttributes: attributes.resource,
          nonResourceAttributes: attributes.nonResource,
        },
      },
      timeoutMs: REVIEW_TIMEOUT_MS,
      signal: AbortSignal.timeout(REVIEW_TIMEOUT_MS),
    });
    return { allowed: !!result.status?.allowed && !result.status?.denied, reason: result.status?.reason };
  }
}

function jsonList(value: string | undefined): string[] | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    return Array.isArray(parsed) ? parsed.map(String) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the ConfigMap's keys as k8s.io/apiserver does (lists are JSON arrays; defaults when absent). */
export function authenticationConfigFromConfigMap(cm: ConfigMap | undefined): AuthenticationConfig {
  const data = cm?.data ?? {};
  const config: AuthenticationConfig = {};
  if (data['client-ca-file']) config.clientCA = data['client-ca-file'];
  if (data['requestheader-client-ca-file']) {
    config.requestHeader = {
      clientCA: data['requestheader-client-ca-file'],
      allowedNames: jsonList(data['requestheader-allowed-names']) ?? [],
      usernameHeaders: jsonList(data['requestheader-username-headers']) ?? ['X-Remote-User'],
      uidHeaders: jsonList(data['requestheader-uid-headers']) ?? [],
      groupHeaders: jsonList(data['requestheader-group-headers']) ?? ['X-Remote-Group'],
      extraHeaderPrefixes: jsonList(data['requestheader-extra-headers-prefix']) ?? ['X-Remote-Extra-'],
    };
  }
  return config;
}

/** Keeps the authentication ConfigMap in view: an informer narrowed to it by name. */
export class AuthenticationConfigWatcher {
  private readonly informer: Informer<ConfigMap>;

  constructor(
    rest: KubeRest,
    private readonly onChange: (config: AuthenticationConfig) => void,
    private readonly logger: Logger,
  ) {
    this.informer = new Informer<ConfigMap>(
      rest,
      {
        path: `/api/v1/namespaces/${AUTH_CONFIGMAP_NAMESPACE}/configmaps`,
        fieldSelector: `metadata.name=${AUTH_CONFIGMAP_NAME}`,
        requestTimeoutMs: REVIEW_TIMEOUT_MS,
        name: 'ConfigMap',
      },
      logger,
    ).on((type, cm) => this.apply(type === 'delete' ? undefined : cm));
  }

  get hasSynced(): boolean {
    return this.informer.hasSynced;
  }

  /** Starts listing and watching; resolves after the first list (the ConfigMap may not exist). */
  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
    // Absent at the first list: the defaults apply until it appears.
    if (!this.informer.list().length) this.apply(undefined);
  }

  private apply(cm: ConfigMap | undefined): void {
    this.onChange(authenticationConfigFromConfigMap(cm));
    this.logger.info(
      { resourceVersion: cm?.metadata?.resourceVersion },
      'authentication configuration updated',
    );
  }

  stop(): void {
    this.informer.stop();
  }
}

/** Credentials for delegation: the --authentication-kubeconfig file, or the Pod's service account. */
export function loadKubeConfig(path?: string): KubeClientConfig {
  return path ? kubeconfigFromFile(path) : inClusterConfig();
}
