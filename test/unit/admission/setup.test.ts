/**
 * Which admission chain the server builds: standalone, none, and a warning at startup that namespaces
 * are not checked; behind kube-apiserver, NamespaceLifecycle first, with the informer's sync as the
 * `informer-sync` readiness check (failing while kube-apiserver cannot be listed).
 */
import { Writable } from 'node:stream';
import { KubeRest } from '../../../src/shared/kube/rest';
import pino from 'pino';
import { createAdmission } from '../../../src/widget-server/admission/setup';
import { parseConfig } from '../../../src/widget-server/config';

function capturingLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    logger: pino({ level: 'info' }, stream),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A client for a cluster that never answers (nothing listens on port 1): informers never list. */
const unreachableCluster = () =>
  new KubeRest({
    server: new URL('https://127.0.0.1:1'),
    tls: { rejectUnauthorized: false },
    authorization: () => 'Bearer x',
    source: 'test',
  });

test('standalone: no admission plugins, and a loud warning that namespaces are not checked', () => {
  const { logger, lines } = capturingLogger();
  const admission = createAdmission(parseConfig(['--delegate-auth=false'], {}), logger);
  expect(admission.chain.names).toEqual([]);
  expect(admission.readinessChecks).toEqual({});
  const warning = lines().find((l) => l.level === 40);
  expect(String(warning?.msg)).toMatch(
    /^NAMESPACES ARE NOT CHECKED AND ADMISSION POLICIES AND WEBHOOKS ARE NOT ENFORCED: .*NamespaceLifecycle, MutatingAdmissionWebhook, ValidatingAdmissionPolicy and ValidatingAdmissionWebhook/,
  );
  admission.stop();
});

test('behind kube-apiserver: NamespaceLifecycle, MutatingAdmissionWebhook, ValidatingAdmissionPolicy, ValidatingAdmissionWebhook, not ready until their informers list', () => {
  const { logger } = capturingLogger();
  // The informers cannot list, so the readiness check keeps failing.
  const kc = unreachableCluster();
  const admission = createAdmission(parseConfig(['--delegate-auth=true'], {}), logger, kc);
  try {
    expect(admission.chain.names).toEqual([
      'NamespaceLifecycle',
      'MutatingAdmissionWebhook',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionWebhook',
    ]);
    expect(Object.keys(admission.readinessChecks)).toEqual(['informer-sync']);
    expect(() => admission.readinessChecks['informer-sync']()).toThrow(
      '5 informers not started yet: [*v1.Namespace *v1.MutatingWebhookConfiguration *v1.ValidatingAdmissionPolicy *v1.ValidatingAdmissionPolicyBinding *v1.ValidatingWebhookConfiguration]',
    );
  } finally {
    admission.stop();
  }
});

test('--disable-admission-plugins turns a plugin off; an unknown name is refused', () => {
  const { logger } = capturingLogger();
  const kc = unreachableCluster();
  const config = parseConfig(
    [
      '--delegate-auth=true',
      '--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook',
    ],
    {},
  );
  const admission = createAdmission(config, logger, kc);
  try {
    expect(admission.chain.names).toEqual(['NamespaceLifecycle']);
    expect(() => admission.readinessChecks['informer-sync']()).toThrow(
      '1 informers not started yet: [*v1.Namespace]',
    );
  } finally {
    admission.stop();
  }
  expect(() => parseConfig(['--disable-admission-plugins=Nope'], {})).toThrow(/unknown plugins Nope/);
});
