/**
 * Which shared objects a dynamically linked binary needs, per `ldd`: what an image `FROM scratch`
 * must hold besides the binary itself.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * The absolute paths of the shared objects in `ldd` output, the dynamic loader included
 * (`linux-vdso` has no file and is skipped).
 */
export function parseLdd(output: string): string[] {
  const paths = new Set<string>();
  for (const line of output.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (match?.[1]) paths.add(match[1]);
  }
  return [...paths];
}

/** The shared libraries and loader `binary` needs; empty for a statically linked binary. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  try {
    const { stdout } = await promisify(execFile)('ldd', [binary]);
    return parseLdd(stdout);
  } catch (error) {
    // A statically linked binary makes ldd exit 1 with "not a dynamic executable".
    const text = String((error as { stderr?: string }).stderr ?? error);
    if (/not a dynamic executable|statically linked/.test(text)) return [];
    throw new Error(`cannot list the shared libraries of ${binary} with ldd (install libc-bin): ${text}`);
  }
}
