/**
 * What containers fetch from the demo: data files and input JSON (the `url` delivery). It is a
 * separate listener, bound where containers reach the host (the bridge gateway by default), so
 * that tools can fetch their data but never reach the demo's pages and forms.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Signer } from '../auth/signer.ts';
import type { DataFile, DataFiles } from './files.ts';

const FILE_PURPOSE = 'data-file';
const INPUT_PATH = /^\/inputs\/([A-Za-z0-9_-]{16,64})\.json$/;
const FILE_PATH = /^\/data\/([a-z0-9-]{1,80})\/([A-Za-z0-9_-]{20,64})\/[^/]+$/;

/** Options of {@link DataServer.listen}. */
export interface DataListenOptions {
  /** Address to bind, e.g. the bridge gateway `172.17.0.1`. */
  readonly host: string;
  /** Port to bind; 0 picks a free one. */
  readonly port: number;
  /** The origin containers use to reach it. Default `http://<host>:<bound port>`. */
  readonly origin?: string;
}

/** Serves data files and published input JSON to containers, by unguessable links only. */
export class DataServer {
  readonly #files: DataFiles;
  readonly #signer: Signer;
  readonly #inputs = new Map<string, { token: string; json: string }>();
  readonly #tokens = new Map<string, string>();
  #server: Server | undefined;
  #origin = '';

  /** @param files - where data files come from; @param signer - signs file links. */
  constructor(files: DataFiles, signer: Signer) {
    this.#files = files;
    this.#signer = signer;
  }

  /** The origin containers use, once listening. */
  get origin(): string {
    return this.#origin;
  }

  /** Starts listening. Fails with a message that says what to configure when the address is not local. */
  async listen(options: DataListenOptions): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          new Error(
            `cannot listen on ${options.host}:${options.port} for containers to fetch their data (${error.code ?? error.message}). ` +
              'Set --data-host to an address of this machine that containers can reach, and --data-origin to the URL they use.',
            { cause: error },
          ),
        );
      });
      server.listen(options.port, options.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.#origin = options.origin?.replace(/\/+$/, '') ?? `http://${host}:${port}`;
    this.#server = server;
  }

  /** The link a container fetches `file` from. */
  fileUrl(file: DataFile): string {
    const signature = this.#signer.sign(FILE_PURPOSE, file.id);
    return `${this.#origin}/data/${file.id}/${signature}/${encodeURIComponent(file.name)}`;
  }

  /** Publishes a container's input JSON; returns its link (for `urlInput`). */
  publishInput(name: string, json: string): string {
    this.forgetInput(name);
    const token = randomBytes(18).toString('base64url');
    this.#inputs.set(name, { token, json });
    this.#tokens.set(token, name);
    return `${this.#origin}/inputs/${token}.json`;
  }

  /** Stops serving a container's input JSON. */
  forgetInput(name: string): void {
    const entry = this.#inputs.get(name);
    if (entry) this.#tokens.delete(entry.token);
    this.#inputs.delete(name);
  }

  /** Stops listening. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const input = INPUT_PATH.exec(path);
    const data = FILE_PATH.exec(path);
    if (input) this.#serveInput(input[1] as string, res);
    else if (data) this.#serveFile(data[1] as string, data[2] as string, req.method === 'HEAD', res);
    else notFound(res);
  }

  #serveInput(token: string, res: ServerResponse): void {
    const name = this.#tokens.get(token);
    const entry = name === undefined ? undefined : this.#inputs.get(name);
    if (!entry) {
      notFound(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(entry.json);
  }

  #serveFile(id: string, signature: string, headOnly: boolean, res: ServerResponse): void {
    const file = this.#files.find(id);
    if (!file || !this.#signer.verify(FILE_PURPOSE, id, signature)) {
      notFound(res);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-length': file.bytes,
      'cache-control': 'no-store',
    });
    if (headOnly) {
      res.end();
      return;
    }
    createReadStream(file.path)
      .on('error', () => res.destroy())
      .pipe(res);
  }
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
}
