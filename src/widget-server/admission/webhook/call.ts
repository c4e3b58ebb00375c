/**
 * Calling one admission webhook as kube-apiserver does (k8s.io/apiserver pkg/util/webhook and the
 * dispatchers): an AdmissionReview v1 POSTed over HTTPS to the webhook's `url`, or to its Service,
 * reached at the Service's cluster IP with the certificate checked for `<name>.<namespace>.svc` (the
 * name kube-apiserver checks, so no cluster DNS is needed), verified against the webhook's `caBundle`
 * (the system roots when it has none), within `timeoutSeconds` (default 10, at most 30), the reply
 * bounded in size and checked: same uid, an `allowed` decision, a patch only from a mutating webhook and
 * always with its patchType.
 */
import https from 'node:https';
import type { KubeRest } from '../../../shared/kube/rest';

export interface WebhookClientConfig {
  url?: string;
  service?: { namespace: string; name: string; path?: string; port?: number };
  caBundle?: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code?: number; message?: string; reason?: string; status?: string; details?: unknown };
  patch?: string;
  patchType?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

/** A failure to get a usable answer (kube-apiserver's ErrCallingWebhook): the failure policy decides. */
export class WebhookCallError extends Error {
  constructor(
    readonly webhook: string,
    reason: string,
  ) {
    super(`failed calling webhook "${webhook}": ${reason}`);
    this.name = 'WebhookCallError';
  }
}

/** A reply larger than this is refused (kube-apiserver reads at most 3 MiB plus slack, as a request body). */
const MAX_RESPONSE_BYTES = 3 * 1024 * 1024 + 64 * 1024;

export const DEFAULT_TIMEOUT_SECONDS = 10;

async function target(
  config: WebhookClientConfig,
  kube: KubeRest | undefined,
): Promise<{ url: URL; servername?: string }> {
  if (config.url) return { url: new URL(config.url) };
  const svc = config.service;
  if (!svc) throw new Error('webhook has neither url nor service');
  if (!kube) throw new Error('a service webhook needs the cluster');
  const service = await kube.request<{ spec?: { clusterIP?: string } }>(
    'GET',
    `/api/v1/namespaces/${encodeURIComponent(svc.namespace)}/services/${encodeURIComponent(svc.name)}`,
    { timeoutMs: 10_000 },
  );
  const ip = service.spec?.clusterIP;
  if (!ip || ip === 'None') throw new Error(`service ${svc.namespace}/${svc.name} has no cluster IP`);
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return {
    url: new URL(`https://${host}:${svc.port ?? 443}${svc.path ?? ''}`),
    servername: `${svc.name}.${svc.namespace}.svc`,
  };
}

export async function callWebhook(
  name: string,
  config: WebhookClientConfig,
  timeoutSeconds: number | undefined,
  review: { request: { uid: string } & Record<string, unknown> },
  kube: KubeRest | undefined,
  /** A mutating webhook may answer with a patch; a validating one may not. */
  mutating = false,
): Promise<AdmissionResponse> {
  const seconds = Math.min(timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS, 30);
  let to: { url: URL; servername?: string };
  try {
    to = await target(config, kube);
  } catch (e) {
    throw new WebhookCallError(name, `failed to call webhook: ${(e as Error).message}`);
  }
  if (to.url.protocol !== 'https:')
    throw new WebhookCallError(name, 'failed to call webhook: url must be https');
  to.url.searchParams.set('timeout', `${seconds}s`);
  const body = Buffer.from(
    JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', ...review }),
  );
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.request(
      to.url,
      {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'Content-Length': body.length,
        },
        ca: config.caBundle ? Buffer.from(config.caBundle, 'base64').toString('utf8') : undefined,
        servername: to.servername,
        ...(to.servername
          ? { checkServerIdentity: (_host: string, cert) => tlsIdentity(to.servername!, cert) }
          : {}),
        timeout: seconds * 1000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new Error(`response is larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const t = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300)
            reject(new Error(`the server responded with ${res.statusCode}: ${t.slice(0, 200)}`));
          else resolve(t);
        });
        res.on('error', reject);
      },
    );
    const deadline = setTimeout(
      () => req.destroy(new Error(`context deadline exceeded (${seconds}s)`)),
      seconds * 1000,
    );
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (${seconds}s)`)));
    req.on('error', reject);
    req.end(body);
  }).catch((e: Error) => {
    throw new WebhookCallError(
      name,
      `failed to call webhook: Post "${to.url.origin}${to.url.pathname}": ${e.message}`,
    );
  });
  let parsed: { response?: AdmissionResponse };
  try {
    parsed = JSON.parse(text) as { response?: AdmissionResponse };
  } catch {
    throw new WebhookCallError(name, 'received invalid webhook response: not JSON');
  }
  const response = parsed.response;
  if (!response || typeof response.allowed !== 'boolean')
    throw new WebhookCallError(name, 'received invalid webhook response: no response.allowed');
  if (response.uid !== review.request.uid)
    throw new WebhookCallError(
      name,
      `received invalid webhook response: expected response.uid="${review.request.uid}", got "${response.uid}"`,
    );
  const invalid = (why: string) => new WebhookCallError(name, `received invalid webhook response: ${why}`);
  if (mutating) {
    if (response.patch && response.patchType === undefined)
      throw invalid('webhook returned response.patch but not response.patchType');
    if (!response.patch && response.patchType !== undefined)
      throw invalid('webhook returned response.patchType but not response.patch');
    if (response.patchType === '') throw invalid('webhook returned invalid response.patchType of ""');
  } else {
    if (response.patch) throw invalid('validating webhook may not return response.patch');
    if (response.patchType !== undefined)
      throw invalid('validating webhook may not return response.patchType');
  }
  return response;
}

/** The certificate must name the Service as kube-apiserver addresses it. */
function tlsIdentity(servername: string, cert: { subjectaltname?: string }): Error | undefined {
  const names = (cert.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return names.includes(servername)
    ? undefined
    : new Error(
        `x509: certificate is not valid for ${servername} (valid for ${names.join(', ') || 'no DNS names'})`,
      );
}
