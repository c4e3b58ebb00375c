/**
 * Builds the request filter that authenticates and then authorizes every request, in one of two modes:
 * delegated (a cluster: TokenReview, SubjectAccessReview, and the authentication ConfigMap, watched, with
 * flags overriding its values) or standalone (the local CA signs client certificates; only
 * system:masters is authorized, so nothing is served unauthenticated).
 */
import { readFile } from 'node:fs/promises';
import type { Request } from 'express';
import type { Logger } from 'pino';
import type { RequestFilter } from '../http/app';
import { DelegatingAuthenticator, type AuthenticationConfig } from './authentication';
import { DelegatingAuthorizer } from './authorization';
import { AuthenticationConfigWatcher, KubeAccessReviewer, KubeTokenReviewer } from './kube-delegation';
import type { KubeRest } from '../../shared/kube/rest';
import type { WidgetServerConfig } from '../config';

export interface RequestAuth {
  filter: RequestFilter;
  authenticator: DelegatingAuthenticator;
  /** Resolves true once the authentication configuration is known (a readiness check). */
  ready(): boolean;
  stop(): void;
}

async function readOptional(file: string | undefined): Promise<string | undefined> {
  return file ? readFile(file, 'utf8') : undefined;
}

/** Flags win over the ConfigMap, key by key, as in k8s.io/apiserver's DelegatingAuthenticationOptions. */
async function flagOverrides(config: WidgetServerConfig): Promise<AuthenticationConfig> {
  const overrides: AuthenticationConfig = {};
  const clientCA = await readOptional(config.clientCAFile);
  if (clientCA) overrides.clientCA = clientCA;
  const rhCA = await readOptional(config.requestHeaderClientCAFile);
  if (rhCA) {
    overrides.requestHeader = {
      clientCA: rhCA,
      allowedNames: config.requestHeaderAllowedNames,
      usernameHeaders: config.requestHeaderUsernameHeaders,
      uidHeaders: config.requestHeaderUidHeaders,
      groupHeaders: config.requestHeaderGroupHeaders,
      extraHeaderPrefixes: config.requestHeaderExtraHeadersPrefix,
    };
  }
  return overrides;
}

function filterFor(authenticator: DelegatingAuthenticator, authorizer: DelegatingAuthorizer): RequestFilter {
  return async (req: Request, info) => {
    const user = await authenticator.authenticate(req);
    (req as Request & { user?: unknown }).user = user;
    await authorizer.authorize(user, info);
  };
}

export async function createRequestAuth(
  config: WidgetServerConfig,
  logger: Logger,
  /** `kube`: the delegation client, present exactly when config.delegateAuth. */
  { kube, standaloneClientCA }: { kube?: KubeRest; standaloneClientCA?: string },
): Promise<RequestAuth> {
  const overrides = await flagOverrides(config);
  if (!config.delegateAuth || !kube) {
    const authenticator = new DelegatingAuthenticator({ clientCA: standaloneClientCA, ...overrides });
    return {
      filter: filterFor(authenticator, new DelegatingAuthorizer()),
      authenticator,
      ready: () => true,
      stop: () => undefined,
    };
  }
  const authenticator = new DelegatingAuthenticator(overrides, new KubeTokenReviewer(kube));
  const authorizer = new DelegatingAuthorizer(new KubeAccessReviewer(kube));
  const watcher = new AuthenticationConfigWatcher(
    kube,
    (fromConfigMap) => authenticator.setConfig({ ...fromConfigMap, ...overrides }),
    logger.child({ component: 'authentication-config' }),
  );
  void watcher.start();
  return {
    filter: filterFor(authenticator, authorizer),
    authenticator,
    ready: () => watcher.hasSynced,
    stop: () => watcher.stop(),
  };
}
