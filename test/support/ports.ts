/**
 * Free TCP ports for servers a test starts as separate processes (etcd), which bind them after we have
 * let go of them.
 *
 * Why not port 0 and close: the kernel hands out such a port from the ephemeral range, the same range it
 * takes the source ports of outgoing connections from. Between our close and the child's bind, any
 * connection on the machine (kubelet, an etcd member dialling its peers) may take it, and the child dies
 * with "address already in use" (CI saw it once: an etcd member's peer port). Ports below that range are
 * never given to outgoing connections, so only another listener can take one, and the bind test below
 * sees those. Each port is handed out once per process, so two members started together never share one.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

const given = new Set<number>();

/** The lowest ephemeral port (Linux's net.ipv4.ip_local_port_range; 32768 where it cannot be read). */
function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 2048 ? n : 32768;
  } catch {
    return 32768;
  }
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A port no one listens on at `host`, below the ephemeral range, not handed out before by this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = 10_000;
  const high = ephemeralLow();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (given.has(port)) continue;
    if (await canBind(port, host)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${low} and ${high} on ${host}`);
}
