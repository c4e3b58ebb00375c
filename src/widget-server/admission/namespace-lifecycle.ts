/**
 * NamespaceLifecycle, as k8s.io/apiserver pkg/admission/plugin/namespace/lifecycle does it for every
 * kube-apiserver resource: no new content in a namespace that does not exist (404 NotFound for the
 * namespace) or that is being terminated (403 Forbidden with a NamespaceTerminating cause). Updates need
 * the namespace to exist; deletes are always allowed (the namespace controller must be able to empty a
 * terminating namespace). It is a mutating plugin, as upstream, so it runs before anything else.
 *
 * The namespace comes from an informer; before rejecting a create on a cache miss it waits a moment for
 * the watch to deliver a namespace created just before (upstream's 50 ms), then asks kube-apiserver
 * directly. Upstream's Namespace-kind rules (immortal namespaces, the forced live lookup after a
 * namespace DELETE it admitted) concern requests for namespaces, which this server never serves.
 */
import { ApiError, internalError } from '../../shared/status-errors';
import {
  admissionForbidden,
  type AdmissionAttributes,
  type AdmissionPlugin,
  type Operation,
} from './admission';
import type { Namespace, NamespaceSource } from './namespace-informer';

export const NAMESPACE_LIFECYCLE = 'NamespaceLifecycle';
/** Upstream's missingNamespaceWait: lets a watch-fed cache see a namespace created just before. */
const MISSING_NAMESPACE_WAIT_MS = 50;
/** Upstream's timeToWaitForReady: how long a request waits for the informer's first list. */
const READY_WAIT_MS = 10_000;
const READY_POLL_MS = 100;

export interface NamespaceLifecycleOptions {
  readyWaitMs?: number;
  missingNamespaceWaitMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What kube-apiserver answers for a missing namespace: `namespaces "<ns>" not found`. */
export function namespaceNotFound(namespace: string): ApiError {
  return new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, {
    name: namespace,
    kind: 'namespaces',
  });
}

export class NamespaceLifecycle implements AdmissionPlugin {
  readonly name = NAMESPACE_LIFECYCLE;
  private readonly readyWaitMs: number;
  private readonly missingNamespaceWaitMs: number;

  constructor(
    private readonly namespaces: NamespaceSource,
    options: NamespaceLifecycleOptions = {},
  ) {
    this.readyWaitMs = options.readyWaitMs ?? READY_WAIT_MS;
    this.missingNamespaceWaitMs = options.missingNamespaceWaitMs ?? MISSING_NAMESPACE_WAIT_MS;
  }

  handles(operation: Operation): boolean {
    return operation === 'CREATE' || operation === 'UPDATE' || operation === 'DELETE';
  }

  private async waitForReady(): Promise<boolean> {
    const deadline = Date.now() + this.readyWaitMs;
    while (!this.namespaces.hasSynced) {
      if (Date.now() >= deadline) return this.namespaces.hasSynced;
      await sleep(READY_POLL_MS);
    }
    return true;
  }

  async admit(a: AdmissionAttributes): Promise<void> {
    // Cluster-scoped objects have no namespace to check; deletes are always allowed.
    if (!a.namespace || a.operation === 'DELETE') return;
    if (!(await this.waitForReady())) throw admissionForbidden(a, 'not yet ready to handle request');

    let namespace: Namespace | undefined = this.namespaces.get(a.namespace);
    if (!namespace && a.operation === 'CREATE') {
      await sleep(this.missingNamespaceWaitMs);
      namespace = this.namespaces.get(a.namespace);
    }
    if (!namespace) {
      // The last resort: ask kube-apiserver, whose storage is the truth the cache lags behind.
      try {
        namespace = await this.namespaces.lookup(a.namespace);
      } catch (err) {
        throw internalError(err instanceof Error ? err.message : String(err));
      }
      if (!namespace) throw namespaceNotFound(a.namespace);
    }

    if (a.operation === 'CREATE' && namespace.status?.phase === 'Terminating') {
      const err = admissionForbidden(
        a,
        `unable to create new content in namespace ${a.namespace} because it is being terminated`,
      );
      err.details!.causes = [
        {
          reason: 'NamespaceTerminating',
          message: `namespace ${a.namespace} is being terminated`,
          field: 'metadata.namespace',
        },
      ];
      throw err;
    }
  }
}
