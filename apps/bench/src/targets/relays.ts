/**
 * Minimal WebSocket relays in this process, the yardsticks for dde's relay: each forwards the
 * upgrade request to the upstream as it came (path under the prefix) and then moves bytes both
 * ways, without parsing the answer, history, limits or fault handling. `relay-pipe` uses a
 * `socket.pipe()` pair, `relay-raw` `on('data')` and `write()` with pause/resume on `drain`,
 * `relay-onread` reads the upstream into one reused buffer per session (`net.connect`'s
 * `onread`: no allocation per read) and pauses while a write holds it.
 * WebSocket only: plain HTTP requests get a 404.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type OnReadOpts, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { inProcessTarget, serve } from '../dde.ts';
import { publicPath, type Target, type UpstreamTarget } from './types.ts';

/** Moves bytes between the client and `upstream` (connected with `onread` when set). */
interface Relay {
  readonly onread?: () => Pick<OnReadOpts, 'buffer' | 'callback'> & {
    attach(client: Duplex, upstream: Socket): void;
  };
  (client: Duplex, upstream: Socket): void;
}

/** `a.pipe(b)` both ways: Node's streams handle backpressure. */
const pipePair: Relay = (client, upstream) => {
  upstream.pipe(client);
  client.pipe(upstream);
};

/** `on('data')` + `write()`, pausing the reader while the writer's buffer is full. */
const rawPair: Relay = (client, upstream) => {
  const forward = (from: Duplex, to: Duplex) => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => to.end());
  };
  forward(upstream, client);
  forward(client, upstream);
};

/** Bytes per read of the `onread` relay: as large as Node's own reads. */
const READ_BYTES = 64 * 1024;

/**
 * Upstream to client through one buffer reused for every read: the write gets a view of it,
 * and reading pauses until a write that could not finish at once (it keeps the view) is done.
 * Client to upstream: a pipe (a server socket cannot be given `onread`).
 */
const onreadPair: Relay = Object.assign((client: Duplex, upstream: Socket) => client.pipe(upstream), {
  onread: () => {
    let client: Duplex | undefined;
    let upstream: Socket | undefined;
    return {
      buffer: Buffer.allocUnsafe(READ_BYTES),
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        if (client === undefined || upstream === undefined) return false;
        const before = client.writableLength;
        let holding = false;
        const reader = upstream;
        // Resumes once the write that still holds the view is done ('drain' may never come
        // for a write below the high-water mark).
        client.write(buffer.subarray(0, bytes), () => holding && reader.resume());
        if (client.writableLength <= before) return true;
        holding = true;
        return false;
      },
      attach(to: Duplex, from: Socket) {
        client = to;
        upstream = from;
        from.on('end', () => to.end());
      },
    };
  },
});

function relayTarget(id: string, label: string, relay: Relay): Target {
  return {
    id,
    label,
    unavailable: async () => undefined,
    async start(target: UpstreamTarget) {
      const prefix = publicPath(target.name).replace(/\/$/, '');
      const server = createServer((_req, res) => res.writeHead(404).end());
      server.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
        const onread = relay.onread?.();
        const upstream = connect({
          host: target.upstream.host,
          port: target.upstream.port,
          noDelay: true,
          ...(onread ? { onread: { buffer: onread.buffer, callback: onread.callback } } : {}),
        });
        onread?.attach(client, upstream);
        (client as Socket).setNoDelay(true);
        const lines = [`${req.method} ${(req.url ?? '/').slice(prefix.length) || '/'} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) {
          lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        }
        upstream.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
        if (head.length > 0) upstream.write(head);
        relay(client, upstream);
        const close = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('close', close).on('error', close);
        upstream.on('error', close);
        // What the client has yet to receive is written before its connection ends.
        upstream.on('close', () => client.end(() => close()));
      });
      // The relays' own sockets to the upstream close with their clients, which `serve` drops.
      const { port, stop } = await serve(server);
      return inProcessTarget(port, target.name, stop);
    },
  };
}

/** The minimal `socket.pipe()` pair. */
export const pipeRelayTarget: Target = relayTarget('relay-pipe', 'relay: socket.pipe() pair', pipePair);

/** The minimal `on('data')`/`write()` relay. */
export const rawRelayTarget: Target = relayTarget('relay-raw', "relay: on('data')/write()", rawPair);

/** The `onread` relay: no allocation per read on the upstream side. */
export const onreadRelayTarget: Target = relayTarget(
  'relay-onread',
  'relay: onread, reused buffer',
  onreadPair,
);
