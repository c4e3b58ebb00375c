/**
 * The kube-apiserver side of delegated auth, over @kubernetes/client-node: TokenReview and
 * SubjectAccessReview clients, and a list-and-watch of the kube-system/extension-apiserver-authentication
 * ConfigMap (narrowed by fieldSelector, which is all the extension-apiserver-authentication-reader Role
 * permits) that feeds the authenticator's CAs and header names as they change.
 */
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  Watch,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { AuthenticationConfig, TokenReviewer, UserInfo } from './authentication';
import type { AccessDecision, AccessReviewAttributes, AccessReviewer } from './authorization';
import { reuseConnections } from '../../shared/kube-connection-reuse';
import { withTimeout } from '../../shared/with-timeout';

export const AUTH_CONFIGMAP_NAMESPACE = 'kube-system';
export const AUTH_CONFIGMAP_NAME = 'extension-apiserver-authentication';
/** client timeout of k8s.io/apiserver's delegated webhooks. */
const REVIEW_TIMEOUT_MS = 10_000;

export class KubeTokenReviewer implements TokenReviewer {
  private readonly api: AuthenticationV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(AuthenticationV1Api);
  }

  async review(token: string): Promise<UserInfo | undefined> {
    const result = await withTimeout(
      this.api.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      }),
      'TokenReview',
      REVIEW_TIMEOUT_MS,
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
  private readonly api: AuthorizationV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(AuthorizationV1Api);
  }

  async review(attributes: AccessReviewAttributes): Promise<AccessDecision> {
    const { user } = attributes;
    const result = await withTimeout(
      this.api.createSubjectAccessReview({
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
      }),
      'SubjectAccessReview',
      REVIEW_TIMEOUT_MS,
    );
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
export function authenticationConfigFromConfigMap(cm: V1ConfigMap | undefined): AuthenticationConfig {
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

/** Keeps the authentication ConfigMap in view: list, then watch, relisting with backoff on any failure. */
export class AuthenticationConfigWatcher {
  private stopped = false;
  private abort?: AbortController;
  private retryTimer?: NodeJS.Timeout;
  private synced = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly onChange: (config: AuthenticationConfig) => void,
    private readonly logger: Logger,
  ) {}

  get hasSynced(): boolean {
    return this.synced;
  }

  async start(): Promise<void> {
    await this.listAndWatch(0);
  }

  private async listAndWatch(attempt: number): Promise<void> {
    if (this.stopped) return;
    const fieldSelector = `metadata.name=${AUTH_CONFIGMAP_NAME}`;
    try {
      const core = this.kc.makeApiClient(CoreV1Api);
      const list = await core.listNamespacedConfigMap({ namespace: AUTH_CONFIGMAP_NAMESPACE, fieldSelector });
      this.apply(list.items[0]);
      this.synced = true;
      const watch = new Watch(this.kc);
      this.abort = await watch.watch(
        `/api/v1/namespaces/${AUTH_CONFIGMAP_NAMESPACE}/configmaps`,
        { fieldSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
        (phase: string, obj: V1ConfigMap) => {
          if (phase === 'ADDED' || phase === 'MODIFIED') this.apply(obj);
          else if (phase === 'DELETED') this.apply(undefined);
        },
        (err: unknown) => this.scheduleRetry(err, 0),
      );
    } catch (err) {
      this.scheduleRetry(err, attempt + 1);
    }
  }

  private scheduleRetry(err: unknown, attempt: number): void {
    if (this.stopped) return;
    if (err) this.logger.warn({ err: String(err) }, 'authentication ConfigMap watch failed; relisting');
    const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
    this.retryTimer = setTimeout(() => void this.listAndWatch(attempt), delay);
    this.retryTimer.unref();
  }

  private apply(cm: V1ConfigMap | undefined): void {
    this.onChange(authenticationConfigFromConfigMap(cm));
    this.logger.info(
      { resourceVersion: cm?.metadata?.resourceVersion },
      'authentication configuration updated',
    );
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}

/** The kubeconfig for delegation, whose calls reuse their connections (shared/kube-connection-reuse.ts). */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromCluster();
  return reuseConnections(kc);
}
