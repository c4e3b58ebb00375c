/**
 * Runs policy programs in the CEL evaluation worker (worker.ts) with a time limit. CEL has no
 * loops, but comprehensions over large lists nest (`a.all(x, b.all(y, ...))`), and kube-apiserver bounds
 * them with a cost budget; @bufbuild/cel counts no cost, so here the bound is time: an evaluation that
 * outlives its limit fails (the policy's failurePolicy decides), and the worker, which may still be
 * busy with it, is replaced. Evaluations in the worker at that moment fail the same way.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AuthorizationCheck, AuthorizationDecision } from './authorizer';
import {
  AUTHORIZATION_BUFFER_BYTES,
  type Activation,
  type AuthorizeRequest,
  type EvaluateRequest,
  type EvaluateResponse,
  type PolicyProgram,
  type ProgramResult,
} from './program';

/** Decides one `authorizer` check for the request being admitted (a SubjectAccessReview). */
export type Authorize = (check: AuthorizationCheck) => Promise<AuthorizationDecision>;

export class CelTimeoutError extends Error {
  constructor(ms: number) {
    super(`CEL evaluation exceeded its time limit of ${ms}ms`);
    this.name = 'CelTimeoutError';
  }
}

interface Pending {
  resolve(result: ProgramResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  authorization?: { buffer: SharedArrayBuffer; authorize: Authorize };
}

/**
 * The worker's entry: the compiled .js in a build; from the TypeScript sources (tests run them through
 * ts-jest, which does not reach into workers) it is transpiled on load with the compiler the tests have.
 */
function startWorker(): Worker {
  const entry = path.join(__dirname, `worker${path.extname(__filename)}`);
  if (!entry.endsWith('.ts')) return new Worker(entry);
  const hook = `
    const ts = require('typescript');
    const fs = require('fs');
    require.extensions['.ts'] = (module, filename) => {
      const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
        fileName: filename,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      module._compile(out.outputText, filename);
    };
    require(${JSON.stringify(entry)});
  `;
  return new Worker(hook, { eval: true });
}

export class CelEvaluator {
  private worker?: { worker: Worker; ready: Promise<void> };
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Workers replaced after a timeout or a crash, for the metric. */
  restarts = 0;

  constructor(private readonly timeoutMs: number) {}

  /** Starts the worker ahead of the first evaluation. */
  warm(): Promise<void> {
    return this.ensureWorker().ready;
  }

  async evaluate(
    program: PolicyProgram,
    activation: Activation,
    authorize?: Authorize,
  ): Promise<ProgramResult> {
    const { worker, ready } = this.ensureWorker();
    // The time limit is for evaluating, not for a worker starting (loading CEL takes a moment).
    await ready;
    if (this.worker?.worker !== worker) throw new Error('CEL worker exited before it was ready');
    const id = this.nextId++;
    return new Promise<ProgramResult>((resolve, reject) => {
      const timer = setTimeout(() => this.timedOut(worker), this.timeoutMs);
      const buffer = authorize && new SharedArrayBuffer(AUTHORIZATION_BUFFER_BYTES);
      this.pending.set(id, {
        resolve,
        reject,
        timer,
        authorization: buffer ? { buffer, authorize: authorize! } : undefined,
      });
      const request: EvaluateRequest = {
        id,
        program,
        activation,
        authorization: buffer && { buffer, waitMs: this.timeoutMs },
      };
      worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const current = this.worker;
    this.worker = undefined;
    this.failAll(new Error('CEL evaluator closed'));
    await current?.worker.terminate();
  }

  private ensureWorker(): { worker: Worker; ready: Promise<void> } {
    if (this.worker) return this.worker;
    const worker = startWorker();
    worker.unref();
    let markReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    worker.on('message', (response: EvaluateResponse | AuthorizeRequest | 'ready') => {
      if (response === 'ready') return markReady();
      if ('authorize' in response) return this.authorize(response.authorize);
      const p = this.pending.get(response.id);
      if (!p) return;
      this.pending.delete(response.id);
      clearTimeout(p.timer);
      p.resolve(response.result);
    });
    const gone = (err: Error) => {
      markReady();
      this.replace(worker, err);
    };
    worker.on('error', (err) => gone(new Error(`CEL worker failed: ${err.message}`)));
    worker.on('exit', () => gone(new Error('CEL worker exited')));
    this.worker = { worker, ready };
    return this.worker;
  }

  /** Decides a worker's check and wakes the worker with the answer (program.ts has the buffer's layout). */
  private authorize({ id, check }: AuthorizeRequest['authorize']): void {
    const authorization = this.pending.get(id)?.authorization;
    if (!authorization) return;
    const answer = (decision: AuthorizationDecision) => {
      const flag = new Int32Array(authorization.buffer, 0, 2);
      const bytes = new Uint8Array(authorization.buffer, 8);
      // Bounded so that it fits the buffer (each UTF-16 unit is at most 3 bytes of UTF-8).
      const bounded = {
        ...decision,
        reason: decision.reason.slice(0, 2048),
        ...(decision.error === undefined ? {} : { error: decision.error.slice(0, 2048) }),
      };
      const encoded = new TextEncoder().encode(JSON.stringify(bounded));
      bytes.set(encoded);
      Atomics.store(flag, 1, encoded.length);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    };
    authorization
      .authorize(check)
      .then(answer, (e: Error) => answer({ allowed: false, reason: '', error: e.message }));
  }

  private timedOut(worker: Worker): void {
    this.replace(worker, new CelTimeoutError(this.timeoutMs));
  }

  /** Drops `worker` (if still current), failing what it had in hand; the next evaluation starts another. */
  private replace(worker: Worker, err: Error): void {
    if (this.worker?.worker !== worker) return;
    this.worker = undefined;
    this.restarts++;
    this.failAll(err);
    void worker.terminate();
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
