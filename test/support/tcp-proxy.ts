/**
 * A TCP proxy on a free loopback port in front of one server (an etcd member), which can lose the next
 * request or its reply, the way a member that dies with a call in flight does: the bytes the client
 * sends next are forwarded (or not), nothing comes back, and the connection is reset a little later.
 * Used to test what a store does with a write whose outcome it cannot see. It can also reset every
 * connection, and let new ones live only briefly (a member that fails again just after a reconnection).
 */
import net from 'node:net';

/** What happens to the next bytes a client sends: forwarded with the reply lost, or lost themselves. */
export type ProxyFault = 'lose-reply' | 'lose-request';

export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private fault?: { kind: ProxyFault; hit: () => void };
  /** While set, a new connection passes what the server sends for this long, then is reset. */
  private brief?: { ms: number; cut: () => void };
  port = 0;

  constructor(
    private readonly target: { host: string; port: number },
    /** How long a faulted connection stays open (silent) before it is reset. */
    private readonly resetAfterMs = 300,
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Arms a fault for the next bytes any client sends; resolves when it has struck. */
  arm(kind: ProxyFault): Promise<void> {
    return new Promise((resolve) => (this.fault = { kind, hit: resolve }));
  }

  /** Resets every open connection. */
  cutAll(): void {
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  /**
   * The next connection hears from the server for `ms` only, then is reset; resolves once it has been.
   * Connections after it are left alone.
   */
  shortLived(ms: number): Promise<void> {
    return new Promise((resolve) => (this.brief = { ms, cut: resolve }));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: net.Socket) {
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client).add(upstream);
    // Once a fault strikes: nothing more reaches the client; what it sends still reaches the server
    // ('lose-reply': the whole request arrives, however it is split into packets) or does not.
    let struck: ProxyFault | undefined;
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    const brief = this.brief;
    if (brief) {
      this.brief = undefined;
      setTimeout(() => {
        struck = 'lose-request';
        setTimeout(() => {
          client.resetAndDestroy();
          end();
          brief.cut();
        }, 20);
      }, brief.ms);
    }
    client.on('data', (chunk) => {
      const fault = this.fault;
      if (fault && !struck) {
        this.fault = undefined;
        struck = fault.kind;
        // A reset, not a close: the client sees the connection break with its call in flight.
        setTimeout(() => {
          client.resetAndDestroy();
          end();
          fault.hit();
        }, this.resetAfterMs);
      }
      if (struck !== 'lose-request') upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!struck) client.write(chunk);
    });
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  }
}
