import { PassThrough } from 'node:stream';
import { DdeError } from '@dde/core';
import { MemoryBackend } from '@dde/core/testing';
import { describe, expect, it } from 'vitest';
import { runInProcess } from '../test/cli-process.ts';
import { main } from './cli.ts';
import { cliMessage } from './messages.ts';

/** Runs the CLI in-process; no engine is touched because every case fails before it would be. */
function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runInProcess(argv, {
    backend: () => {
      throw new Error('the engine must not be reached for a usage error');
    },
  });
}

describe('dde command line', () => {
  it('prints help with examples, per command too', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: dde <command>/);
    expect(help.stdout).toMatch(/Examples:/);
    const run = await cli('run', '--help');
    expect(run.stdout).toMatch(/Usage: dde run <image>/);
    expect((await cli('help', 'purge')).stdout).toMatch(/--idle <time>/);
    expect((await cli('help', 'purge')).stdout).toMatch(/--dry-run/);
    expect(run.stdout).toMatch(/--network <name>/);
    expect((await cli('proxy', '--help')).stdout).toMatch(/--network <name>/);
  });

  it('prints its version', async () => {
    expect((await cli('--version')).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it.each([
    [[], /Usage: dde <command>/, 'stdout'],
    [['frobnicate'], /unknown command "frobnicate"/, 'stderr'],
    [['run'], /an image is required/, 'stderr'],
    [['run', 'busybox', '--port', 'abc'], /--port expects a whole number, got "abc"/, 'stderr'],
    [['run', 'busybox', '--env', 'NOVALUE'], /--env expects KEY=VALUE/, 'stderr'],
    [['run', 'busybox', '--input', '{bad'], /--input is not valid JSON/, 'stderr'],
    [
      ['run', 'busybox', '--input', '1', '--input-file', 'x.json'],
      /either --input or --input-file/,
      'stderr',
    ],
    [
      ['run', 'busybox', '--deliver', 'carrier-pigeon'],
      /--deliver expects env, file:\/path or url:/,
      'stderr',
    ],
    [['run', 'busybox', '--bogus'], /^dde: USAGE: unknown option --bogus for dde run\n/, 'stderr'],
    [['ls', '--jsn'], /^dde: USAGE: unknown option --jsn for dde ls \(did you mean --json\?\)\n/, 'stderr'],
    [['run', 'busybox', '--memory-reservaton', '5'], /did you mean --memory-reservation\?/, 'stderr'],
    [
      ['run', 'busybox', '--memory-reservation', '-5'],
      /--memory-reservation needs a value, and "-5" looks like an option; if it is the value, write --memory-reservation=-5/,
      'stderr',
    ],
    [
      ['run', 'busybox', '--memory-reservation=-5'],
      /--memory-reservation expects a whole number, got "-5"/,
      'stderr',
    ],
    [['run', 'busybox', '--name'], /^dde: USAGE: --name needs a value\n/, 'stderr'],
    [['ls', '--json=yes'], /unknown option|takes no value/, 'stderr'],
    [['rm', 'Bad Name'], /^dde: INVALID_SPEC: --name "Bad Name" must be lowercase letters/, 'stderr'],
    [['logs', 'Bad Name'], /^dde: INVALID_SPEC: --name "Bad Name"/, 'stderr'],
    [['run', 'busybox', '--name', 'Bad_Name'], /name "Bad_Name" must be lowercase letters/, 'stderr'],
    [
      ['run', 'busybox', '--memory-limit', '2'],
      /^dde: INVALID_SPEC: --memory-limit must be from 6/,
      'stderr',
    ],
    [['run', 'busybox', '--readiness-timeout', 'soon'], /"soon" is not a duration/, 'stderr'],
    [['ls', 'extra'], /ls takes no arguments/, 'stderr'],
    [['logs'], /exactly one container name/, 'stderr'],
    [['rm'], /at least one container name/, 'stderr'],
    [['purge'], /exactly one of --idle/, 'stderr'],
    [['purge', '--idle', '5x'], /"5x" is not a duration/, 'stderr'],
    [['purge', '--label', 'novalue'], /--label expects KEY=VALUE/, 'stderr'],
    [['purge', '--all', '--history', 'h.jsonl'], /--history only goes with --idle/, 'stderr'],
    [['proxy', '--prefix', '/x', '--hostname-suffix', 'y'], /not both/, 'stderr'],
    [['proxy', '--port', '70000'], /at most 65535/, 'stderr'],
    [['ls', '--namespace', 'Bad NS'], /namespace "Bad NS" must be/, 'stderr'],
    [['ls', '--namespace'], /--namespace needs a value/, 'stderr'],
  ])('exits 2 with a clear message for %j', async (argv, message, stream) => {
    const result = await cli(...argv);
    expect(result.code).toBe(2);
    expect(stream === 'stdout' ? result.stdout : result.stderr).toMatch(message);
  });

  it("names the command line's own remedy, never a library API", async () => {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (chunk) => {
      text += chunk;
    });
    const code = await main(['run', 'busybox', '--input', JSON.stringify({ blob: 'x'.repeat(200_000) })], {
      stdout: new PassThrough(),
      stderr,
      env: {},
      backend: (namespace) => new MemoryBackend({ namespace }),
    });
    const big = { code, stderr: text };
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/^dde: INPUT_TOO_LARGE: /);
    expect(big.stderr).toContain('--deliver file:/path/in/container');
    expect(big.stderr).not.toMatch(/fileInput|urlInput|envInput/);
    const pull = cliMessage(
      new DdeError(
        'IMAGE_PULL_FAILED',
        'Could not pull image reg.example/x:1: denied. Check the image name and tag, that the registry is reachable from the engine, and registry credentials (registryAuth)',
      ),
    );
    expect(pull).toContain('docker login');
    expect(pull).not.toContain('registryAuth');
  });

  it('points at the right help page after a usage error', async () => {
    expect((await cli('purge')).stderr).toMatch(/Run 'dde purge --help' for usage\./);
    expect((await cli('frobnicate')).stderr).toMatch(/Run 'dde --help' for usage\./);
  });
});
