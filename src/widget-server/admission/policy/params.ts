/**
 * A policy's parameters (spec.paramKind, the binding's paramRef), as k8s.io/apiserver's
 * generic.CollectParams finds them: the kind's resource from discovery, an informer over it in every
 * namespace (started when a policy first names the kind), then the named object or those a selector
 * picks, in the paramRef's namespace or the request's; none found is a configuration error or an allow,
 * as parameterNotFoundAction says.
 */
import type { Logger } from 'pino';
import { Informer } from '../../../shared/kube/informer';
import type { KubeObject, KubeRest } from '../../../shared/kube/rest';
import { matchesLabels } from '../../api/selectors';
import { labelSelector, type LabelSelectorJson } from './matching';

export interface ParamKind {
  apiVersion: string;
  kind: string;
}

export interface ParamRef {
  name?: string;
  namespace?: string;
  selector?: LabelSelectorJson;
  parameterNotFoundAction?: 'Allow' | 'Deny';
}

interface ParamSource {
  namespaced: boolean;
  informer: Informer;
}

const FIRST_SYNC_WAIT_MS = 5000;

export class ParamSources {
  private readonly sources = new Map<string, Promise<ParamSource>>();

  constructor(
    private readonly rest: KubeRest,
    private readonly logger: Logger,
  ) {}

  /** The parameters for one binding and request: [null] when the policy has no paramKind. */
  async collect(
    kind: ParamKind | undefined,
    ref: ParamRef | undefined,
    requestNamespace: string,
  ): Promise<Array<KubeObject | null>> {
    if (!kind) return [null];
    if (!ref)
      throw new Error(`paramKind ${kind.apiVersion}/${kind.kind} is set, but the binding has no paramRef`);
    const source = await this.source(kind);
    if (!source.informer.hasSynced)
      throw new Error(`paramKind ${kind.apiVersion}/${kind.kind} is not yet synced to use for admission`);
    let namespace = '';
    if (source.namespaced) {
      namespace = ref.namespace || requestNamespace;
      if (!namespace)
        throw new Error(
          'cannot use a namespaced paramRef in a policy binding that matches cluster-scoped resources',
        );
    }
    let found: KubeObject[];
    if (ref.name) {
      const one = source.informer.get(namespace ? `${namespace}/${ref.name}` : ref.name);
      found = one ? [one] : [];
    } else {
      const selector = labelSelector(ref.selector);
      found = source.informer
        .list()
        .filter(
          (o) => (o.metadata?.namespace ?? '') === namespace && matchesLabels(selector, o.metadata?.labels),
        );
    }
    if (found.length) return found;
    if ((ref.parameterNotFoundAction ?? 'Deny') === 'Deny')
      throw new Error('no params found for policy binding with `Deny` parameterNotFoundAction');
    return [];
  }

  /** Starts the kind's informer ahead of requests (when a policy naming it appears). */
  prepare(kind: ParamKind): void {
    this.source(kind).catch((err: Error) =>
      this.logger.warn({ paramKind: key(kind), err: err.message }, 'cannot read policy params'),
    );
  }

  stop(): void {
    for (const s of this.sources.values())
      void s.then(
        (src) => src.informer.stop(),
        () => undefined,
      );
  }

  private source(kind: ParamKind): Promise<ParamSource> {
    const key = `${kind.apiVersion}/${kind.kind}`;
    let source = this.sources.get(key);
    if (!source) {
      source = this.discover(kind);
      // A failed discovery is retried by the next request that needs the kind.
      source.catch(() => this.sources.delete(key));
      this.sources.set(key, source);
    }
    return source;
  }

  private async discover(kind: ParamKind): Promise<ParamSource> {
    const base = kind.apiVersion.includes('/') ? `/apis/${kind.apiVersion}` : `/api/${kind.apiVersion}`;
    const list = await this.rest.request<{
      resources?: Array<{ name: string; kind: string; namespaced: boolean }>;
    }>('GET', base, { timeoutMs: 10_000 });
    const r = list.resources?.find((x) => x.kind === kind.kind && !x.name.includes('/'));
    if (!r) throw new Error(`paramKind ${kind.apiVersion}/${kind.kind} is not served by the cluster`);
    const informer = new Informer(
      this.rest,
      { path: `${base}/${r.name}`, name: `${kind.kind} (policy params)`, requestTimeoutMs: 30_000 },
      this.logger.child({ informer: `params:${key(kind)}` }),
    ).start();
    // A request that needs the kind first waits a moment for its first list, not for ever (without the
    // RBAC to read the kind it never comes): then "not yet synced", and the failure policy decides.
    await Promise.race([informer.synced, new Promise((r) => setTimeout(r, FIRST_SYNC_WAIT_MS).unref())]);
    return { namespaced: r.namespaced, informer };
  }
}

const key = (kind: ParamKind) => `${kind.apiVersion}/${kind.kind}`;
