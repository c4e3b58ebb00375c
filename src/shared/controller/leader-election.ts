/**
 * Lease-based leader election with client-go's semantics (tools/leaderelection, coordination.k8s.io/v1
 * Lease): a candidate takes the lease when it is free or its holder has not renewed it within
 * leaseDuration as observed on this candidate's own clock (so clock skew between nodes does not matter),
 * the leader renews every retryPeriod, and a leader shutting down releases the lease so a standby takes
 * over at once. client-node has no leader election of its own.
 *
 * Leadership is bounded in time, not by what the API answers: it lasts until renewDeadline after the
 * start of the last successful renew (the renewTime others observe is no older than that start, so they
 * wait at least leaseDuration > renewDeadline from it). Every Lease call is aborted at that deadline, and
 * a timer ends leadership at the deadline even if a call hangs and never returns (a 30 s REST timeout
 * against a 15 s lease let two leaders overlap). The clock is injectable so tests drive time.
 */
import type { Logger } from 'pino';
import {
  isConflict,
  isNotFound,
  resourcePath,
  type KubeObject,
  type KubeRest,
  type ResourceRef,
} from '../kube/rest';

const LEASE: ResourceRef = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  plural: 'leases',
  namespaced: true,
};

/** client-go's wait.JitterFactor for the acquire loop: renewDeadline must exceed retryPeriod × this. */
export const JITTER_FACTOR = 1.2;

/** Time for the elector: `now()` in epoch milliseconds, and one-shot timers. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Epoch-based but monotonic (performance.now), as Go's time.Now carries a monotonic reading: a wall
 * clock step must not stretch a deadline or make a held lease look expired.
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The one REST call the elector makes, so a test can serve the Lease in memory. */
export type LeaseApi = Pick<KubeRest, 'request'>;

export interface LeaderElectionTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderElectionConfig extends Partial<LeaderElectionTiming> {
  namespace: string;
  name: string;
  identity: string;
  clock?: Clock;
  /** Jitter source for the acquire loop, [0, 1). */
  random?: () => number;
}

export const DEFAULT_TIMING: LeaderElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** client-go's NewLeaderElector checks, with its messages. */
export function validateTiming(t: LeaderElectionTiming): void {
  for (const [field, value] of [
    ['leaseDuration', t.leaseDurationMs],
    ['renewDeadline', t.renewDeadlineMs],
    ['retryPeriod', t.retryPeriodMs],
  ] as const) {
    if (!(value > 0) || !Number.isFinite(value)) throw new Error(`${field} must be greater than zero`);
  }
  if (t.leaseDurationMs <= t.renewDeadlineMs) {
    throw new Error('leaseDuration must be greater than renewDeadline');
  }
  if (t.renewDeadlineMs <= JITTER_FACTOR * t.retryPeriodMs) {
    throw new Error('renewDeadline must be greater than retryPeriod*JitterFactor');
  }
}

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

/** What one try at the Lease found. */
type Attempt = 'held' | 'failed' | 'taken';

export class LeaderElector {
  private readonly timing: LeaderElectionTiming;
  private readonly clock: Clock;
  private readonly random: () => number;
  private observed?: { record: string; at: number };
  private leading = false;
  private stopped = false;
  /** Clock time at which leadership ends unless a renew started before it succeeds. */
  private deadline = 0;
  private lostTimer?: unknown;
  private inflight?: AbortController;
  private wake?: () => void;
  private onLost: () => void = () => undefined;

  constructor(
    private readonly rest: LeaseApi,
    private readonly config: LeaderElectionConfig,
    private readonly logger: Logger,
  ) {
    this.timing = {
      leaseDurationMs: config.leaseDurationMs ?? DEFAULT_TIMING.leaseDurationMs,
      renewDeadlineMs: config.renewDeadlineMs ?? DEFAULT_TIMING.renewDeadlineMs,
      retryPeriodMs: config.retryPeriodMs ?? DEFAULT_TIMING.retryPeriodMs,
    };
    validateTiming(this.timing);
    this.clock = config.clock ?? systemClock;
    this.random = config.random ?? Math.random;
  }

  /** True only before the deadline, even if the timer that ends leadership has not run yet. */
  get isLeader(): boolean {
    return this.leading && this.clock.now() < this.deadline;
  }

  /**
   * Resolves once this candidate leads (or release() was called); then renews in the background and
   * calls onLost, once, when leadership ends without release().
   */
  async acquire(onLost: () => void): Promise<void> {
    this.onLost = onLost;
    this.logger.info({ lease: `${this.config.namespace}/${this.config.name}` }, 'waiting for leadership');
    for (;;) {
      if (this.stopped) return;
      const started = this.clock.now();
      // An acquire attempt is bounded like a renew: one that took longer would start already expired.
      if ((await this.attempt(started + this.timing.renewDeadlineMs)) === 'held') {
        if (this.clock.now() < started + this.timing.renewDeadlineMs) {
          this.leading = true;
          this.extend(started);
          break;
        }
      }
      // client-go's JitterUntil: standbys do not retry in lockstep.
      await this.sleep(this.timing.retryPeriodMs * (1 + this.random() * (JITTER_FACTOR - 1)));
    }
    this.logger.info({ identity: this.config.identity }, 'became leader');
    void this.renewLoop();
  }

  private async renewLoop(): Promise<void> {
    while (this.leading && !this.stopped) {
      await this.sleep(this.timing.retryPeriodMs);
      if (!this.leading || this.stopped) return;
      const started = this.clock.now();
      const result = await this.attempt(this.deadline);
      if (!this.leading || this.stopped) return;
      if (this.clock.now() >= this.deadline) return this.lose('renew deadline passed');
      if (result === 'held') this.extend(started);
      else if (result === 'taken') return this.lose('the lease is held by another candidate');
    }
  }

  /** A renew that started at `started` succeeded: leadership lasts until renewDeadline after it. */
  private extend(started: number): void {
    this.deadline = started + this.timing.renewDeadlineMs;
    if (this.lostTimer !== undefined) this.clock.clearTimeout(this.lostTimer);
    this.lostTimer = this.clock.setTimeout(
      () => this.lose('renew deadline passed'),
      this.deadline - this.clock.now(),
    );
  }

  private lose(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.clearTimers(reason);
    this.logger.error(
      { identity: this.config.identity, reason, renewDeadlineMs: this.timing.renewDeadlineMs },
      'lost leadership',
    );
    this.onLost();
  }

  private clearTimers(reason: string): void {
    if (this.lostTimer !== undefined) this.clock.clearTimeout(this.lostTimer);
    this.lostTimer = undefined;
    this.inflight?.abort(new Error(`leader election: ${reason}`));
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = this.clock.setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        this.clock.clearTimeout(handle);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** One get-then-create-or-update of the Lease, every call aborted at `deadline`. */
  private async attempt(deadline: number): Promise<Attempt> {
    const controller = new AbortController();
    this.inflight = controller;
    const timer = this.clock.setTimeout(
      () => controller.abort(new Error('leader election: renew deadline passed')),
      Math.max(0, deadline - this.clock.now()),
    );
    try {
      return await this.tryAcquireOrRenew(controller.signal);
    } catch (e) {
      if (controller.signal.aborted) {
        this.logger.warn({ err: String(controller.signal.reason) }, 'lease call aborted at the deadline');
      } else if (!isConflict(e)) {
        this.logger.warn({ err: String(e) }, 'lease update failed');
      }
      return 'failed';
    } finally {
      this.clock.clearTimeout(timer);
      if (this.inflight === controller) this.inflight = undefined;
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<Attempt> {
    const { namespace, name, identity } = this.config;
    const now = this.clock.now();
    const desiredSpec = {
      holderIdentity: identity,
      // Whole seconds, rounded up: others must never wait less than this replica's renewDeadline.
      leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    let lease: Lease | undefined;
    try {
      lease = await this.rest.request<Lease>('GET', resourcePath(LEASE, namespace, name), { signal });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!lease) {
      await this.rest.request('POST', resourcePath(LEASE, namespace), {
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { ...desiredSpec, acquireTime: microTime(now), leaseTransitions: 0 },
        },
        signal,
      });
      return 'held';
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime]);
    const seenAt = this.clock.now();
    if (this.observed?.record !== record) this.observed = { record, at: seenAt };
    const holder = spec.holderIdentity ?? '';
    const expired = seenAt - this.observed.at > (spec.leaseDurationSeconds ?? 15) * 1000;
    if (holder && holder !== identity && !expired) return 'taken';
    const takingOver = holder !== identity;
    await this.rest.request('PUT', resourcePath(LEASE, namespace, name), {
      body: {
        ...lease,
        spec: {
          ...spec,
          ...desiredSpec,
          acquireTime: takingOver ? microTime(now) : spec.acquireTime,
          leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder ? 1 : 0),
        },
      },
      signal,
    });
    if (takingOver) this.logger.info({ previousHolder: holder || undefined }, 'took the lease');
    return 'held';
  }

  /** Stops renewing and, when still leading, releases the lease so a standby takes over without waiting. */
  async release(): Promise<void> {
    const wasLeader = this.isLeader;
    this.stopped = true;
    this.leading = false;
    this.clearTimers('stopping');
    if (!wasLeader) return;
    const { namespace, name, identity } = this.config;
    // Bounded like every Lease call: past the deadline the lease is no longer ours to release.
    const controller = new AbortController();
    const timer = this.clock.setTimeout(
      () => controller.abort(new Error('leader election: renew deadline passed')),
      Math.max(0, this.deadline - this.clock.now()),
    );
    const signal = controller.signal;
    try {
      const path = resourcePath(LEASE, namespace, name);
      const lease = await this.rest.request<Lease>('GET', path, { signal });
      if (lease.spec?.holderIdentity !== identity) return;
      await this.rest.request('PUT', path, {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: microTime(this.clock.now()),
          },
        },
        signal,
      });
      this.logger.info('released the lease');
    } catch (e) {
      this.logger.warn({ err: String(signal.aborted ? signal.reason : e) }, 'could not release the lease');
    } finally {
      this.clock.clearTimeout(timer);
    }
  }
}
