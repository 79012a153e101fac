/**
 * Builds the upstream image through the engine API: `FROM scratch` plus this machine's own
 * `node` binary, the shared libraries `ldd` says it needs, the dynamic loader, and
 * `server.ts`. No registry is involved, and nothing inside the image but Node itself.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sharedLibraries } from '@dde/test-support/ldd';
import type Docker from 'dockerode';
import tar from 'tar-stream';

/** Port the upstream server listens on inside the container. */
export const UPSTREAM_PORT = 80;

const SERVER_SOURCE = fileURLToPath(new URL('./server.ts', import.meta.url));

// `.mts` so that Node loads it as an ES module without a package.json beside it.
const DOCKERFILE = `FROM scratch
COPY rootfs/ /
ENV PORT=${UPSTREAM_PORT}
EXPOSE ${UPSTREAM_PORT}
ENTRYPOINT ["/node", "--disable-warning=ExperimentalWarning", "/server.mts"]
`;

/** Adds one file to the tar stream under `name`, streaming its content. */
async function addFile(pack: tar.Pack, name: string, source: string): Promise<void> {
  const { size, mode } = await stat(source); // stat follows symlinks: we copy the real file
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ name, size, mode: mode & 0o777 }, (error) =>
      error ? reject(error) : resolve(),
    );
    createReadStream(source).on('error', reject).pipe(entry);
  });
}

/** The build context as a tar stream; entries are written while the engine reads. */
function buildContext(files: ReadonlyArray<readonly [name: string, source: string]>): tar.Pack {
  const pack = tar.pack();
  void (async () => {
    try {
      pack.entry({ name: 'Dockerfile' }, DOCKERFILE);
      for (const [name, source] of files) await addFile(pack, name, source);
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  return pack;
}

/**
 * Builds the upstream image as `tag`, labelled with `labels` (so a later run can find leftovers),
 * from the Node binary at `nodeBinary` (default: the one running this process).
 */
export async function buildUpstreamImage(
  docker: Docker,
  tag: string,
  labels: Record<string, string>,
  nodeBinary: string = process.execPath,
): Promise<void> {
  const libraries = await sharedLibraries(nodeBinary);
  const files: Array<[string, string]> = [
    ['rootfs/node', nodeBinary],
    ['rootfs/server.mts', SERVER_SOURCE],
    ...libraries.map((path): [string, string] => [`rootfs${path}`, path]),
  ];
  // dockerode's types want a NodeJS.ReadableStream; tar-stream's Pack is a streamx Readable.
  const context = buildContext(files) as unknown as NodeJS.ReadableStream;
  const stream = await docker.buildImage(context, {
    t: tag,
    labels,
    // No cache: a concurrent run removing its image must not take shared layers with it.
    nocache: true,
    rm: true,
    forcerm: true,
  });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: Array<{ error?: string }>) => {
        const failed = error?.message ?? output.find((line) => line.error)?.error;
        if (failed) reject(new Error(`building the upstream image ${tag} failed: ${failed}`));
        else resolve();
      },
      () => {},
    );
  });
}
