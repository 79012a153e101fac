/** The tool images the launch suites start, built locally and removed at cleanup. */
import { LABELS } from '@dde/core';
import { BUSYBOX_DOCKERFILE, buildImage } from '@dde/test-support';
import type Docker from 'dockerode';
import { onCleanup } from '../../cleanup.ts';
import { buildUpstreamImage } from '../../upstream/image.ts';

/** Port both tools listen on. */
export const TOOL_PORT = 80;

/** Memory reservation of one busybox httpd tool, in MB (it uses about 1). */
export const HTTPD_RESERVATION_MB = 8;

/** How long the burst and scale suites wait for one launch to be ready, in ms. */
export const LAUNCH_DEADLINE_MS = 300_000;

/**
 * busybox `httpd` serving one small page: about 1 MB of memory, ready as soon as it runs, the
 * smallest real web tool (burst and scale start hundreds of it).
 */
export async function buildHttpdImage(docker: Docker, namespace: string): Promise<string> {
  const tag = `dde-bench-httpd:${namespace}`;
  onCleanup(`removing image ${tag}`, () => docker.getImage(tag).remove({ force: true }));
  await buildImage(docker, tag, {
    dockerfile: `${BUSYBOX_DOCKERFILE}COPY index.html /www/index.html\nENTRYPOINT ["/bin/httpd", "-f", "-p", "${TOOL_PORT}", "-h", "/www"]\n`,
    files: { 'index.html': 'ok\n' },
    labels: { [LABELS.namespace]: namespace },
  });
  return tag;
}

/**
 * The bench's node upstream (upstream/server.ts), which logs when it listens and listens after
 * `LISTEN_DELAY_MS` when that is set: the cold-start tool.
 */
export async function buildNodeToolImage(docker: Docker, namespace: string): Promise<string> {
  const tag = `dde-bench-upstream:${namespace}`;
  onCleanup(`removing image ${tag}`, () => docker.getImage(tag).remove({ force: true }));
  await buildUpstreamImage(docker, tag, { [LABELS.namespace]: namespace });
  return tag;
}
