/**
 * The HTTPS listener: TLS 1.2+ only, a secure context that can be swapped at run time (certificate
 * reload), and graceful shutdown that fails /readyz first, ends open watches cleanly, lets in-flight
 * requests finish, and only then closes the remaining connections.
 */
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
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
}

export class HttpsServing {
  readonly server: https.Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly widgetApp: WidgetApp,
    private readonly options: ServingOptions,
    private readonly logger: Logger,
  ) {
    this.server = https.createServer(
      {
        ...options.tls,
        minVersion: 'TLSv1.2',
        requestCert: options.requestClientCert ?? false,
        rejectUnauthorized: false,
      },
      widgetApp.app,
    );
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    // Watches are long-running: the default request timeouts must not cut them.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 60_000;
    this.server.keepAliveTimeout = 65_000;
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

  async shutdown(stopWatches: () => void): Promise<void> {
    this.widgetApp.platform.markShuttingDown();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    stopWatches();
    this.server.closeIdleConnections();
    const grace = this.options.shutdownGraceMs ?? 30_000;
    const timer = setTimeout(() => {
      this.logger.warn({ open: this.sockets.size }, 'shutdown grace period over, closing connections');
      for (const s of this.sockets) s.destroy();
    }, grace);
    timer.unref();
    await closed;
    clearTimeout(timer);
    this.logger.info('HTTPS server stopped');
  }
}
