/**
 * dde's errors in the command line's words: the library's messages name its API (`fileInput(path)`,
 * `memoryLimitMb`, `registryAuth`); a person at the prompt needs the flag that fixes it.
 */
import type { DdeError } from '@dde/core';

/** Spec fields and library options, and the flag (or action) that sets them on the command line. */
const TERMS: readonly (readonly [RegExp, string])[] = [
  [/\bfileInput\([^)]*\)/g, '--deliver file:/path/in/container'],
  [/\burlInput\([^)]*\)/g, '--deliver url:https://...'],
  [/\benvInput\(\)/g, '--deliver env'],
  [
    /registry credentials \(registryAuth\)|\bregistryAuth\b/g,
    'registry credentials (dde uses the engine\'s: run "docker login" and "docker pull <image>" on the engine\'s host, then run dde again)',
  ],
  [/\bmemoryReservationMb\b/g, '--memory-reservation'],
  [/\bmemoryLimitMb\b/g, '--memory-limit'],
  [/\bextraDirectories\b/g, '--dir'],
  [/\breadiness\.timeoutMs\b/g, '--readiness-timeout'],
  [/\breadiness\.path\b/g, '--readiness-path'],
  [/\binputs\b(?= must| is)/g, '--deliver'],
  [/^Invalid container spec: (name|port|cpus|owner|env|input|network)\b/, '--$1'],
  [/^Invalid container spec: labels\b/, '--label'],
  [/^Invalid container spec: /, ''],
  [/^Invalid option: network\b/, '--network'],
  [/^Invalid option: namespace\b/, '--namespace'],
  [/^Invalid option: /, ''],
];

/** The error's message with the command line's flags instead of the library's names. */
export function cliMessage(error: Pick<DdeError, 'message'>): string {
  let message = error.message;
  for (const [pattern, replacement] of TERMS) message = message.replace(pattern, replacement);
  return message;
}
