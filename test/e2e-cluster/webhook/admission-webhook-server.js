/**
 * A small admission webhook server for the bed's admission webhook tests, run as a pod of the bed's
 * Node.js base image (plain JavaScript: the image has node and nothing else). It serves HTTPS on :8443
 * with the certificate and key mounted at /webhook/tls, and prints every AdmissionReview it receives as
 * one JSON line on stdout (`{"path":...,"review":...}`), which the test reads with `kubectl logs`.
 *   POST /validate  denies names starting with `bad-` (403), allows the rest with a warning
 *   POST /mutate    adds the label `mutated-by: admission-webhook` with a JSON patch
 *   POST /slow      answers after 3 s
 *   GET  /healthz   readiness
 */
'use strict';
const fs = require('node:fs');
const https = require('node:https');

const LABEL = 'mutated-by';

function answer(path, request) {
  const name = String(request.name || (request.object && request.object.metadata.name) || '');
  if (path === '/validate') {
    if (name.startsWith('bad-'))
      return {
        allowed: false,
        status: { code: 403, reason: 'Forbidden', message: 'names starting with bad- are not allowed' },
      };
    return { allowed: true, warnings: [`checked ${name}`] };
  }
  if (path === '/mutate' && request.object) {
    const labels = request.object.metadata.labels;
    const patch = labels
      ? [{ op: 'add', path: `/metadata/labels/${LABEL}`, value: 'admission-webhook' }]
      : [{ op: 'add', path: '/metadata/labels', value: { [LABEL]: 'admission-webhook' } }];
    return {
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
    };
  }
  return { allowed: true };
}

const server = https.createServer(
  { cert: fs.readFileSync('/webhook/tls/tls.crt'), key: fs.readFileSync('/webhook/tls/tls.key') },
  (req, res) => {
    const path = new URL(req.url, 'https://webhook').pathname;
    if (req.method === 'GET') return res.end('ok');
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let review;
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.statusCode = 400;
        return res.end('not JSON');
      }
      console.log(JSON.stringify({ path, review }));
      const reply = () => {
        res.setHeader('Content-Type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: review.request.uid, ...answer(path, review.request) },
          }),
        );
      };
      if (path === '/slow') setTimeout(reply, 3000);
      else reply();
    });
  },
);
server.listen(8443, () => console.log(JSON.stringify({ listening: 8443 })));
// PID 1 gets no default signal handling: end on SIGTERM so the pod stops at once.
process.on('SIGTERM', () => process.exit(0));
