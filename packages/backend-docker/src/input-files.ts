/** Writes a launch's input files into a created container through the engine's archive API. */
import type { PlannedFile } from '@dde/core';
import type Dockerode from 'dockerode';
import { engineCall, engineStream } from './api.ts';
import { ancestorsOf, packArchive, placementEntries } from './archive.ts';
import { asLaunchFailure, isNotFound, launchFailed } from './errors.ts';

// Go's os.FileMode bits in the archive API's path stat.
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;

/**
 * Writes one input file into the created container. The archive is extracted into the
 * deepest directory that already exists, so that existing directories keep their mode and
 * owner; `noOverwriteDirNonDir` stops a file from replacing a directory or the reverse.
 */
export async function placeInputFile(
  docker: Dockerode,
  engine: string,
  container: { readonly id: string; readonly name: string },
  file: PlannedFile,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { id, name } = container;
  const what = `placement of input file ${file.path} in container ${name}`;
  try {
    const target = await statPath(docker, id, file.path, signal);
    if (target !== undefined && (target.mode & MODE_DIR) !== 0) {
      throw launchFailed(`Cannot write the input file ${file.path}: it is a directory in the image`);
    }
    let existing: string | undefined;
    for (const ancestor of ancestorsOf(file.path)) {
      const stat = await statPath(docker, id, ancestor, signal);
      if (stat === undefined) continue;
      if ((stat.mode & (MODE_DIR | MODE_SYMLINK)) === 0) {
        throw launchFailed(
          `Cannot write the input file ${file.path}: ${ancestor} is a file in the image, not a directory`,
        );
      }
      existing = ancestor;
      break;
    }
    const archive = await packArchive(placementEntries(file, existing ?? '/'));
    await engineCall(docker, {
      method: 'PUT',
      path: `/containers/${id}/archive`,
      query: { path: existing ?? '/', noOverwriteDirNonDir: true },
      file: archive,
      signal,
    });
  } catch (error) {
    throw asLaunchFailure(error, { what, engine, signal });
  }
}

/** The archive API's stat of a path in the container, or undefined when it does not exist. */
async function statPath(
  docker: Dockerode,
  id: string,
  path: string,
  signal: AbortSignal | undefined,
): Promise<{ mode: number } | undefined> {
  try {
    const response = await engineStream(docker, {
      method: 'HEAD',
      path: `/containers/${id}/archive`,
      query: { path },
      signal,
    });
    response.resume();
    const header = response.headers['x-docker-container-path-stat'];
    const stat = JSON.parse(Buffer.from(String(header), 'base64').toString('utf8')) as { mode?: unknown };
    return { mode: typeof stat.mode === 'number' ? stat.mode : 0 };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
