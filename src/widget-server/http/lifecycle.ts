/**
 * Where the server is in its graceful shutdown, read by every request. The phases follow
 * kube-apiserver's lifecycle signals (k8s.io/apiserver pkg/server/lifecycle_signals.go):
 *
 * - `running`: serving.
 * - `delaying` (ShutdownInitiated → --shutdown-delay-duration): /readyz fails, everything else is served
 *   as usual. The pod is already out of its Service's ready endpoints; the delay is the time for
 *   kube-proxy and kube-apiserver's proxy to stop sending new connections here, so nothing sent in that
 *   window is refused. It is this server's equivalent of a preStop sleep.
 * - `draining` (AfterShutdownDelayDuration): the listener is closed; every answer carries
 *   `Connection: close`, so each kept-alive connection ends after the request it carries (kube-apiserver's
 *   proxy then dials again and reaches another replica); new watches get 429 with Retry-After, and open
 *   watches end with a final bookmark, so client-go reflectors resume elsewhere from where they were;
 *   requests already in flight, and new non-watch ones, are served to the end.
 */
export type ServingPhase = 'running' | 'delaying' | 'draining';

export class ServingLifecycle {
  private current: ServingPhase = 'running';

  /** /readyz fails from here on. */
  get shutdownRequested(): boolean {
    return this.current !== 'running';
  }

  get draining(): boolean {
    return this.current === 'draining';
  }

  /** Shutdown runs once (server.ts), moving from running to delaying to draining. */
  enter(phase: Exclude<ServingPhase, 'running'>): void {
    this.current = phase;
  }
}

/** Seconds a client is asked to wait before it retries a watch refused while draining. */
export const DRAINING_RETRY_AFTER_SECONDS = 1;
