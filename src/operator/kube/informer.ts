/**
 * List-and-watch of one kind through @kubernetes/client-node's informer, made to last: client-node stops
 * an informer on any watch error (an expired resourceVersion, a dropped connection, an apiserver
 * restart), so this restarts it with capped exponential backoff, and reports every change as a key.
 */
import { makeInformer, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { resourcePath, type KubeObject, type KubeRest, type ResourceRef } from './rest';

export type ChangeHandler = (object: KubeObject, type: 'add' | 'update' | 'delete') => void;

export interface RunningInformer {
  /** Resolves after the first successful list. */
  synced: Promise<void>;
  list(): KubeObject[];
  stop(): Promise<void>;
}

export function startInformer(
  kc: KubeConfig,
  rest: KubeRest,
  ref: ResourceRef,
  opts: { labelSelector?: string; namespace?: string },
  onChange: ChangeHandler,
  logger: Logger,
): RunningInformer {
  const path = resourcePath(ref, opts.namespace);
  const listFn = async () => {
    const list = await rest.list<KubeObject>(ref, opts);
    return list as unknown as { metadata: { resourceVersion?: string }; items: KubernetesObject[] };
  };
  const informer = makeInformer<KubernetesObject>(kc, path, listFn as never, opts.labelSelector);
  let stopped = false;
  let failures = 0;
  let markSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  for (const type of ['add', 'update', 'delete'] as const) {
    informer.on(type, (obj: KubernetesObject) => {
      failures = 0;
      onChange(obj as KubeObject, type);
    });
  }
  let failedAttempt = false;
  informer.on('error', (err: unknown) => {
    failedAttempt = true;
    if (stopped) return;
    failures++;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
    logger.warn({ kind: ref.kind, err: String(err), retryInMs: delay }, 'watch failed; restarting');
    setTimeout(() => {
      if (!stopped) start();
    }, delay).unref();
  });
  const start = () => {
    failedAttempt = false;
    informer.start().then(
      () => {
        if (!failedAttempt) markSynced();
      },
      () => undefined, // reported through 'error'
    );
  };
  start();
  return {
    synced,
    list: () => informer.list() as KubeObject[],
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
