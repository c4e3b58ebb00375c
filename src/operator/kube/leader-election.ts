/**
 * Lease-based leader election with client-go's semantics (coordination.k8s.io/v1 Lease): a candidate
 * takes the lease when it is free or its holder has not renewed it within leaseDuration as observed on
 * this candidate's own clock (so clock skew between nodes does not matter), the leader renews every
 * retryPeriod and gives up when it could not renew within renewDeadline, and a leader shutting down
 * releases the lease so a standby takes over at once. client-node has no leader election of its own.
 */
import type { Logger } from 'pino';
import { LEASE } from './kinds';
import { isConflict, isNotFound, resourcePath, type KubeObject, type KubeRest } from './rest';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
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

const microTime = (d = new Date()) => d.toISOString().replace('Z', '000Z');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed?: { record: string; at: number };
  private leading = false;
  private stopped = false;

  constructor(
    private readonly rest: KubeRest,
    private readonly config: LeaderElectionConfig,
    private readonly logger: Logger,
  ) {
    this.leaseDurationMs = config.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = config.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = config.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this candidate leads; then renews in the background and calls onLost if it fails. */
  async acquire(onLost: () => void): Promise<void> {
    this.logger.info({ lease: `${this.config.namespace}/${this.config.name}` }, 'waiting for leadership');
    while (!this.stopped && !(await this.tryAcquireOrRenew())) await sleep(this.retryPeriodMs);
    if (this.stopped) return;
    this.leading = true;
    this.logger.info({ identity: this.config.identity }, 'became leader');
    void this.renewLoop(onLost);
  }

  private async renewLoop(onLost: () => void): Promise<void> {
    let lastRenew = Date.now();
    while (!this.stopped) {
      await sleep(this.retryPeriodMs);
      if (this.stopped) return;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.renewDeadlineMs) {
        this.leading = false;
        this.logger.error({ identity: this.config.identity }, 'lost leadership');
        onLost();
        return;
      }
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.config;
    const now = new Date();
    const desiredSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    try {
      let lease: Lease | undefined;
      try {
        lease = await this.rest.get<Lease>(LEASE, name, namespace);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      if (!lease) {
        await this.rest.create(LEASE, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { ...desiredSpec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      }
      const spec = lease.spec ?? {};
      const record = JSON.stringify([spec.holderIdentity, spec.renewTime]);
      if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
      const holder = spec.holderIdentity ?? '';
      const expired = Date.now() - this.observed.at > (spec.leaseDurationSeconds ?? 15) * 1000;
      if (holder && holder !== identity && !expired) return false;
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
      });
      if (takingOver) this.logger.info({ previousHolder: holder || undefined }, 'took the lease');
      return true;
    } catch (e) {
      if (!isConflict(e)) this.logger.warn({ err: String(e) }, 'lease update failed');
      return false;
    }
  }

  /** Stops renewing and, when leading, releases the lease so a standby takes over without waiting. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    const { namespace, name, identity } = this.config;
    try {
      const lease = await this.rest.get<Lease>(LEASE, name, namespace);
      if (lease.spec?.holderIdentity !== identity) return;
      await this.rest.request('PUT', resourcePath(LEASE, namespace, name), {
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() },
        },
      });
      this.logger.info('released the lease');
    } catch (e) {
      this.logger.warn({ err: String(e) }, 'could not release the lease');
    }
  }
}
