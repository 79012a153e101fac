/**
 * The tools' images: one runtime image (`FROM scratch` plus this machine's `node` binary, the
 * shared libraries `ldd` lists and the dynamic loader), and per tool a small image on top of it
 * with the tool's server. Both are tagged by content hash and kept between runs.
 */
import { fileURLToPath } from 'node:url';
import type { BuildListener, ImageBuilder } from '../images/builder.ts';
import { sharedLibraries } from '../images/ldd.ts';
import type { ImageRecipe } from '../images/recipe.ts';
import type { ToolDefinition } from './catalog.ts';

/** Port every tool listens on inside its container. */
export const TOOL_PORT = 8080;

/** Label on every image the demo builds; its value is the image prefix. */
export const IMAGE_LABEL = 'dde-demo.image-prefix';

const SERVERS = new URL('./servers/', import.meta.url);

/** The runtime image: Node and what it needs, nothing else. */
export async function runtimeRecipe(
  prefix: string,
  nodeBinary: string = process.execPath,
): Promise<ImageRecipe> {
  const libraries = await sharedLibraries(nodeBinary);
  return {
    repository: `${prefix}-node`,
    dockerfile: 'FROM scratch\nCOPY rootfs/ /\nENTRYPOINT ["/node"]\n',
    files: [
      { name: 'rootfs/node', source: nodeBinary, mode: 0o755 },
      ...libraries.map((path) => ({ name: `rootfs${path}`, source: path })),
    ],
    labels: { [IMAGE_LABEL]: prefix },
  };
}

/** A tool's image on top of the runtime image `base`. It runs as nobody. */
export function toolRecipe(tool: ToolDefinition, prefix: string, base: string): ImageRecipe {
  const dockerfile = [
    `FROM ${base}`,
    'COPY app/ /app/',
    'USER 65534:65534',
    `ENV PORT=${TOOL_PORT}`,
    `EXPOSE ${TOOL_PORT}`,
    `ENTRYPOINT ["/node", "--disable-warning=ExperimentalWarning", "/app/${tool.server}"]`,
    '',
  ].join('\n');
  return {
    repository: toolRepository(tool, prefix),
    dockerfile,
    files: [
      // Node reads the `.ts` sources as ES modules and strips their types.
      { name: 'app/package.json', source: Buffer.from('{ "type": "module" }\n') },
      ...[tool.server, ...tool.modules].map((file) => ({
        name: `app/${file}`,
        source: fileURLToPath(new URL(file, SERVERS)),
        mode: 0o644,
      })),
    ],
    labels: { [IMAGE_LABEL]: prefix, 'dde-demo.tool': tool.id },
  };
}

/** The repository of a tool's image (its tag is the content hash). */
function toolRepository(tool: ToolDefinition, prefix: string): string {
  return `${prefix}-${tool.id}`;
}

/** Builds (when missing) and names the images of the demo's tools. */
export class ToolImages {
  readonly #builder: ImageBuilder;
  readonly #prefix: string;
  readonly #nodeBinary: string;

  /**
   * @param builder - Builds on the engine the tools run on.
   * @param prefix - Start of every image name, e.g. `dde-demo` gives `dde-demo-viewer:<hash>`.
   * @param nodeBinary - The Node binary to put in the runtime image. Default: this process's.
   */
  constructor(builder: ImageBuilder, prefix: string, nodeBinary: string = process.execPath) {
    this.#builder = builder;
    this.#prefix = prefix;
    this.#nodeBinary = nodeBinary;
  }

  /** The image prefix. */
  get prefix(): string {
    return this.#prefix;
  }

  /** The repository of the tool's image, known before it is built (e.g. `dde-demo-viewer`). */
  repository(tool: ToolDefinition): string {
    return toolRepository(tool, this.#prefix);
  }

  /** The tool's image tag, after building whatever is missing (runtime image first). */
  async ensure(tool: ToolDefinition, onProgress?: BuildListener): Promise<string> {
    const base = await this.#builder.ensure(await runtimeRecipe(this.#prefix, this.#nodeBinary), onProgress);
    return this.#builder.ensure(toolRecipe(tool, this.#prefix, base), onProgress);
  }
}
