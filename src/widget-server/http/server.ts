/**
 * The HTTPS listener: TLS 1.2+ only, a secure context that can be swapped at run time (certificate
 * reload), graceful shutdown that fails /readyz first, ends open watches cleanly, lets in-flight
 * requests finish, and only then closes the remaining connections; and the connection-level limits of
 * Go's http.Server as kube-apiserver configures it (header size and read timeouts, idle keep-alive),
 * plus a cap on open connections. What Node refuses before a request exists is answered with a Status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import tls, { type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { WidgetApp } from './app';

export interface ServingOptions {
  host: string;
  port: number;
  tls: SecureContextOptions;
  /** Client certificates are requested (not required) so that delegated authentication can see them. */
  requestClientCert?: boolean;
  /** How long shutdown waits for in-flight requests before closing connections. */
  shutdownGraceMs?: number;
  /** Request line and headers, in bytes (Go's DefaultMaxHeaderBytes, kube-apiserver's: 1 MiB). */
  maxHeaderBytes?: number;
  /** TLS handshake plus request line and headers (kube-apiserver's ReadHeaderTimeout: 32 s). */
  readHeaderTimeoutMs?: number;
  /** The whole request including its body (slow senders); watches are not cut: they have no body. */
  readTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this (kube-apiserver's IdleTimeout: 90 s). */
  idleTimeoutMs?: number;
  /** Connections beyond this are closed at once; 0: no cap. */
  maxConnections?: number;
}

export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;
export const DEFAULT_READ_HEADER_TIMEOUT_MS = 32_000;
export const DEFAULT_READ_TIMEOUT_MS = 75_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 90_000;
export const DEFAULT_MAX_CONNECTIONS = 4096;

/** A Status written straight to the socket, for errors Node raises before there is a request. */
function rawStatus(code: number, reason: string, message: string): string {
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    ...(reason ? { reason } : {}),
    code,
  });
  const phrase: Record<number, string> = {
    400: 'Bad Request',
    408: 'Request Timeout',
    431: 'Request Header Fields Too Large',
  };
  return (
    `HTTP/1.1 ${code} ${phrase[code]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export class HttpsServing {
  readonly server: https.Server;
  private readonly sockets = new Set<Socket>();
  /**
   * Each established connection: the answers in flight on it, when it last started or ended one, and
   * the bytes read by then (what arrives after that is a request on its way).
   */
  private readonly activity = new Map<
    TLSSocket,
    { inFlight: Set<ServerResponse>; lastActive: number; bytesRead: number }
  >();
  private lastDropLog = 0;
  private stopping?: Promise<void>;

  constructor(
    private readonly widgetApp: WidgetApp,
    private readonly options: ServingOptions,
    private readonly logger: Logger,
  ) {
    const readHeaderTimeout = options.readHeaderTimeoutMs ?? DEFAULT_READ_HEADER_TIMEOUT_MS;
    const readTimeout = Math.max(options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS, readHeaderTimeout);
    this.server = https.createServer(
      {
        ...options.tls,
        minVersion: 'TLSv1.2',
        requestCert: options.requestClientCert ?? false,
        rejectUnauthorized: false,
        maxHeaderSize: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
        // Go bounds the handshake by the read deadlines too.
        handshakeTimeout: readHeaderTimeout,
        headersTimeout: readHeaderTimeout,
        // Node checks the two read timeouts on this period (default 30 s: far too coarse for them).
        connectionsCheckingInterval: Math.max(100, Math.min(1000, readHeaderTimeout / 4)),
      },
      widgetApp.app,
    );
    // Go's TLS server never renegotiates; refusing it here too means a connection's client certificate
    // is fixed at the handshake, which authentication relies on to verify it once per connection.
    this.server.on('secureConnection', (socket: TLSSocket) => {
      socket.disableRenegotiation();
      this.activity.set(socket, {
        inFlight: new Set(),
        lastActive: Date.now(),
        bytesRead: socket.bytesRead,
      });
      socket.on('close', () => this.activity.delete(socket));
    });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const entry = this.activity.get(req.socket as TLSSocket);
      if (!entry) return;
      entry.inFlight.add(res);
      entry.lastActive = Date.now();
      res.once('close', () => {
        entry.inFlight.delete(res);
        entry.lastActive = Date.now();
        entry.bytesRead = req.socket.bytesRead;
      });
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    // Node's requestTimeout runs only until the request has been received, so it cuts slow bodies
    // (slowloris) but never a watch's response.
    this.server.requestTimeout = readTimeout;
    this.server.headersTimeout = readHeaderTimeout;
    this.server.keepAliveTimeout = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (maxConnections > 0) this.server.maxConnections = maxConnections;
    this.server.on('drop', () => {
      const now = Date.now();
      if (now - this.lastDropLog < 10_000) return;
      this.lastDropLog = now;
      this.logger.warn(
        { maxConnections, open: this.sockets.size },
        'connection limit reached, closing new connections',
      );
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
      this.onClientError(err, socket),
    );
  }

  /**
   * Node's parser and timers fail a connection before express sees a request: oversized headers (431),
   * a read timeout (408) or malformed HTTP (400). Answer with a Status where nothing has been sent yet,
   * as Node itself would answer with a bare status line; otherwise just close.
   */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    // The response of the request being read, if one has started (Node's own check).
    const started = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage
      ?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || started) {
      socket.destroy();
      return;
    }
    let answer: string;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      const limit = this.options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
      answer = rawStatus(
        431,
        '',
        `Request Header Fields Too Large: the request line and headers exceed ${limit} bytes`,
      );
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      answer = rawStatus(408, 'Timeout', 'Timeout: the request was not received in time');
    } else {
      answer = rawStatus(400, 'BadRequest', `malformed HTTP request: ${err.code ?? err.message}`);
    }
    socket.end(answer);
    // A client that stops reading must not hold the socket.
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.logger.info({ address: address.address, port: address.port }, 'serving HTTPS');
    return address;
  }

  /** Installs a new certificate and key for new handshakes; established connections keep theirs. */
  setSecureContext(tls: SecureContextOptions): void {
    this.server.setSecureContext(tls);
  }

  /**
   * Graceful shutdown in kube-apiserver's order (lifecycle.ts): /readyz fails at once; requests are
   * served as usual for `delayMs` while endpoints move away; then the listener closes, idle connections
   * close, busy ones close after their current answer, open watches end (`endWatches` returns how many
   * it ended), and requests in flight get until the grace period to finish before the remaining
   * connections are destroyed. A second call returns the first one's promise.
   */
  shutdown(delayMs: number, endWatches: () => number): Promise<void> {
    this.stopping ??= this.runShutdown(delayMs, endWatches);
    return this.stopping;
  }

  private async runShutdown(delayMs: number, endWatches: () => number): Promise<void> {
    const { lifecycle } = this.widgetApp;
    const started = Date.now();
    lifecycle.enter('delaying');
    if (delayMs > 0) {
      this.logger.info(
        { delayMs },
        'shutdown requested: /readyz fails, serving on during the shutdown delay',
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    lifecycle.enter('draining');
    // From here every answer closes its connection: new requests are marked by the app (which also
    // refuses new watches), answers already in flight here. One whose headers are already out (a watch,
    // a streaming list) cannot say so any more; its connection is left to the idle sweep below. Closing
    // it the moment the answer ends would race the client, which may already have put it back in its
    // pool and sent the next request.
    for (const entry of this.activity.values()) {
      for (const res of entry.inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    }
    // The listener closes, but not through https.Server#close: that also closes every connection idle
    // at this instant, and a request the client sends on one while the close is on its way fails.
    // kube-apiserver's proxy cannot resend a proxied write (Go resends only idempotent requests).
    const closed = new Promise<void>((resolve) =>
      tls.Server.prototype.close.call(this.server, () => resolve()),
    );
    const watches = endWatches();
    // Connections in use get Connection: close on their next answer. An idle one is closed once it has
    // been idle for `idleBeforeCloseMs`, checked every 250 ms: Go's pool reuses the most recently used
    // connection first, so one idle for a while is unlikely to be picked as it closes. Bytes arriving
    // count as activity (a request whose headers are on their way). Without a delay there is no other
    // replica to send clients to, so nothing is gained by waiting.
    const idleBeforeCloseMs = Math.min(1000, delayMs);
    const sweep = () => {
      const now = Date.now();
      for (const [socket, entry] of this.activity) {
        if (entry.inFlight.size > 0) continue;
        if (socket.bytesRead !== entry.bytesRead) {
          entry.bytesRead = socket.bytesRead;
          entry.lastActive = now;
        } else if (now - entry.lastActive >= idleBeforeCloseMs) {
          socket.end();
        }
      }
    };
    sweep();
    const sweeper = setInterval(sweep, 250);
    sweeper.unref();
    this.logger.info(
      { connections: this.sockets.size, watchesEnded: watches },
      'draining: listener closed, watches ended, connections close after their current request',
    );
    const grace = this.options.shutdownGraceMs ?? 30_000;
    const timer = setTimeout(() => {
      this.logger.warn({ open: this.sockets.size }, 'shutdown grace period over, closing connections');
      for (const s of this.sockets) s.destroy();
    }, grace);
    timer.unref();
    await closed;
    clearTimeout(timer);
    clearInterval(sweeper);
    this.logger.info({ durationMs: Date.now() - started }, 'HTTPS server stopped');
  }
}
