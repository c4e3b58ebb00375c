/**
 * The certificate state machine, driven through simulated time: serving renewals and CA rotations
 * happen when due, the bundle the aggregator trusts verifies whatever certificate the replicas serve at
 * every moment (replicas pick new Secrets up late, as kubelet does), and a reconcile cut off between its
 * writes (the operator killed) resumes without breaking that.
 */
import { certificatePolicy, parseDuration } from '../../../src/operator/api/aggregated-api';
import {
  CA_PUBLISH_DWELL_MS,
  caStateToData,
  planCertificates,
  type CertificateEvent,
  type KeyPair,
} from '../../../src/operator/reconcile/certificates';
import { createCA, issueServingCert, parseCert, verifyCertSignedBy } from '../../../src/shared/pki';

const DNS = ['x-apiserver', 'x-apiserver.ns', 'x-apiserver.ns.svc', 'x-apiserver.ns.svc.cluster.local'];
const policy = certificatePolicy({
  group: 'g.example.com',
  versions: [{ name: 'v1' }],
  namespace: 'ns',
  certificates: { caDuration: '6m', servingCertificateDuration: '2m', renewBefore: '40s' },
});

/** A deterministic pseudo-random sequence (mulberry32), so a failing run can be replayed. */
function random(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * pickupDelayMs: how long replicas take to serve a new Secret (kubelet's sync); aggregatorDelayMs: how
 * long a stored caBundle takes to reach the aggregator.
 */
function simulate(opts: {
  crashProbability: number;
  seed: number;
  minutes: number;
  pickupDelayMs: number;
  aggregatorDelayMs: number;
}) {
  const rand = random(opts.seed);
  const start = Date.parse('2026-01-01T00:00:00Z');
  let caData: Record<string, string> | undefined;
  let serving: KeyPair | undefined;
  let published: string | undefined;
  const bundleHistory: { at: number; bundle: string }[] = [];
  const trusted = (t: number) =>
    [...bundleHistory].reverse().find((h) => h.at + opts.aggregatorDelayMs <= t)?.bundle;
  // What the replicas serve: the Secret's content once kubelet has synced it.
  const secretHistory: { at: number; cert: KeyPair }[] = [];
  const served = (t: number) =>
    [...secretHistory].reverse().find((h) => h.at + opts.pickupDelayMs <= t)?.cert;
  const events: CertificateEvent[] = [];
  const violations: string[] = [];
  const check = (t: number, moment: string) => {
    const cert = served(t);
    const bundle = trusted(t);
    if (!cert || !bundle) return;
    if (!verifyCertSignedBy(cert.certPem, bundle))
      violations.push(`${moment} at +${(t - start) / 1000}s: served certificate not trusted`);
    if (parseCert(cert.certPem).notAfter.getTime() <= t)
      violations.push(`${moment} at +${(t - start) / 1000}s: served certificate expired`);
  };
  for (let t = start; t < start + opts.minutes * 60_000; t += 2000) {
    const servedNow = served(t);
    const plan = planCertificates({
      now: new Date(t),
      policy,
      caData,
      servingData: serving ? { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem } : undefined,
      dnsNames: DNS,
      publishedBundles: [published],
      servedFingerprints: servedNow ? [parseCert(servedNow.certPem).fingerprintSha256] : undefined,
    });
    events.push(...plan.events);
    caData = caStateToData(plan.ca);
    if (rand() < opts.crashProbability) continue; // killed after the CA Secret was written
    if (plan.servingChanged || !serving) {
      serving = plan.serving;
      secretHistory.push({ at: t, cert: plan.serving });
    }
    if (rand() < opts.crashProbability) continue; // killed before the APIService was updated
    if (published !== plan.bundle) bundleHistory.push({ at: t, bundle: plan.bundle });
    published = plan.bundle;
    for (let dt = 0; dt < 2000; dt += 250) check(t + dt, 'served');
  }
  return { events, violations, count: (reason: string) => events.filter((e) => e.reason === reason).length };
}

test('serving certificates renew and the CA rotates, with every served certificate trusted throughout', () => {
  const run = simulate({
    crashProbability: 0,
    seed: 1,
    minutes: 12,
    pickupDelayMs: 1000,
    aggregatorDelayMs: 5000,
  });
  expect(run.violations).toEqual([]);
  expect(run.count('CACreated')).toBe(1);
  expect(run.count('ServingCertificateRenewed')).toBeGreaterThanOrEqual(3);
  expect(run.count('CARotationStarted')).toBeGreaterThanOrEqual(1);
  expect(run.count('CAPromoted')).toBe(run.count('CARotationStarted'));
  expect(run.count('PreviousCARetired')).toBeGreaterThanOrEqual(1);
  expect(run.count('CARecreated')).toBe(0);
});

test.each([11, 12, 13, 14, 15])('a reconcile killed between its writes resumes safely (seed %i)', (seed) => {
  const run = simulate({
    crashProbability: 0.3,
    seed,
    minutes: 12,
    pickupDelayMs: 1000,
    aggregatorDelayMs: 5000,
  });
  expect(run.violations).toEqual([]);
  expect(run.count('CAPromoted')).toBeGreaterThanOrEqual(1);
  expect(run.count('PreviousCARetired')).toBeGreaterThanOrEqual(1);
  expect(run.count('CARecreated')).toBe(0);
});

test('serving certificates picked up late (kubelet sync) are trusted too', () => {
  const run = simulate({
    crashProbability: 0.2,
    seed: 3,
    minutes: 12,
    pickupDelayMs: 30_000,
    aggregatorDelayMs: 1000,
  });
  expect(run.violations).toEqual([]);
  expect(run.count('PreviousCARetired')).toBeGreaterThanOrEqual(1);
});

test('the next CA is promoted only once every APIService has published it for a while', () => {
  const now = new Date();
  const oldCa = createCA({ commonName: 'old', validityMs: 120_000, now: new Date(now.getTime() - 60_000) });
  const next = createCA({
    commonName: 'next',
    validityMs: 360_000,
    now: new Date(now.getTime() - CA_PUBLISH_DWELL_MS),
  });
  const caData = {
    'ca.crt': oldCa.certPem,
    'ca.key': oldCa.keyPem,
    'next-ca.crt': next.certPem,
    'next-ca.key': next.keyPem,
  };
  const base = { now, policy, caData, dnsNames: DNS };
  const partly = planCertificates({
    ...base,
    publishedBundles: [oldCa.certPem + next.certPem, oldCa.certPem],
  });
  expect(partly.ca.active.certPem).toBe(oldCa.certPem);
  expect(partly.pendingStep).toBe('PublishingNextCA');
  const missing = planCertificates({ ...base, publishedBundles: [oldCa.certPem + next.certPem, undefined] });
  expect(missing.ca.active.certPem).toBe(oldCa.certPem);
  const fresh = createCA({ commonName: 'fresh', validityMs: 360_000, now });
  const tooSoon = planCertificates({
    ...base,
    caData: { ...caData, 'next-ca.crt': fresh.certPem, 'next-ca.key': fresh.keyPem },
    publishedBundles: [oldCa.certPem + fresh.certPem, fresh.certPem + oldCa.certPem],
  });
  expect(tooSoon.ca.active.certPem).toBe(oldCa.certPem);
  const everywhere = planCertificates({
    ...base,
    publishedBundles: [oldCa.certPem + next.certPem, next.certPem + oldCa.certPem],
  });
  expect(everywhere.ca.active.certPem).toBe(next.certPem);
  expect(everywhere.ca.previous).toContain(oldCa.certPem.trim());
  expect(verifyCertSignedBy(everywhere.serving.certPem, next.certPem)).toBe(true);
  expect(everywhere.bundle).toContain(oldCa.certPem.trim());
});

test('a serving certificate the active CA did not sign, or lacking a Service name, is replaced at once', () => {
  const now = new Date();
  const ca = createCA({ commonName: 'ca', validityMs: 3_600_000, now });
  const stranger = createCA({ commonName: 'stranger', validityMs: 3_600_000, now });
  const caData = { 'ca.crt': ca.certPem, 'ca.key': ca.keyPem };
  const foreign = issueServingCert(stranger, {
    commonName: DNS[2],
    dnsNames: DNS,
    ipAddresses: [],
    validityMs: 600_000,
  });
  const plan = planCertificates({
    now,
    policy,
    caData,
    servingData: { 'tls.crt': foreign.certPem, 'tls.key': foreign.keyPem },
    dnsNames: DNS,
    publishedBundles: [ca.certPem],
  });
  expect(plan.servingChanged).toBe(true);
  expect(plan.events[0]).toMatchObject({ type: 'Warning', reason: 'ServingCertificateRenewed' });
  expect(verifyCertSignedBy(plan.serving.certPem, ca.certPem)).toBe(true);
  const fewNames = issueServingCert(ca, {
    commonName: DNS[0],
    dnsNames: DNS.slice(0, 2),
    ipAddresses: [],
    validityMs: 100_000,
  });
  const plan2 = planCertificates({
    now,
    policy,
    caData,
    servingData: { 'tls.crt': fewNames.certPem, 'tls.key': fewNames.keyPem },
    dnsNames: DNS,
    publishedBundles: [ca.certPem],
  });
  expect(plan2.servingChanged).toBe(true);
  expect(parseCert(plan2.serving.certPem).dnsNames).toEqual(DNS);
  // Mismatched key: the pair is unusable.
  const plan3 = planCertificates({
    now,
    policy,
    caData,
    servingData: { 'tls.crt': plan2.serving.certPem, 'tls.key': foreign.keyPem },
    dnsNames: DNS,
    publishedBundles: [ca.certPem],
  });
  expect(plan3.servingChanged).toBe(true);
});

test('a lost CA Secret keeps trusting what the APIServices publish until the replicas moved on', () => {
  const now = new Date();
  const lost = createCA({ commonName: 'lost', validityMs: 3_600_000, now });
  const plan = planCertificates({
    now,
    policy,
    caData: { 'ca.crt': 'garbage', 'ca.key': 'garbage' },
    dnsNames: DNS,
    publishedBundles: [lost.certPem],
    servedFingerprints: ['AA:BB'],
  });
  expect(plan.events.map((e) => e.reason)).toEqual(['CARecreated', 'ServingCertificateIssued']);
  expect(plan.bundle).toContain(lost.certPem.trim());
  expect(plan.pendingStep).toBe('RetiringPreviousCA');
});

test('durations parse as Go durations', () => {
  expect(parseDuration('8760h')).toBe(8760 * 3_600_000);
  expect(parseDuration('1h30m')).toBe(5_400_000);
  expect(parseDuration('1.5s')).toBe(1500);
  expect(parseDuration('250ms')).toBe(250);
  expect(() => parseDuration('10 days')).toThrow('invalid duration');
  expect(() => parseDuration('')).toThrow('invalid duration');
  expect(policy.caRenewBeforeMs).toBe(120_000);
});
