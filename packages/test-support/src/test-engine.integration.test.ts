/**
 * The second engine's clean-up: dockerd leaves a network's bridge in the host's namespace when it
 * stops, and every bridge left behind holds an address range the main engine then cannot give
 * to a network ("could not find an available, non-overlapping IPv4 address pool").
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { describeWithTestEngine, startTestEngine } from './test-engine.ts';

function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

await describeWithTestEngine('a second, test-owned Docker Engine', () => {
  it("leaves no network bridge behind even when stopped, and never touches the main engine's docker0", async () => {
    const hadDocker0 = linkExists('docker0');
    const engine = await startTestEngine();
    let bridges: string[] = [];
    try {
      const created = await Promise.all(
        ['one', 'two'].map((name) => engine.docker.createNetwork({ Name: `te-${name}`, Driver: 'bridge' })),
      );
      const inspected = await Promise.all(created.map((network) => network.inspect()));
      bridges = inspected.map((network) => `br-${(network.Id as string).slice(0, 12)}`);
      expect(bridges.filter(linkExists)).toEqual(bridges);
      // Stopped with its networks still there (as after a fault test): close() must still clean.
      await engine.stop();
      // Started again on the same data root (as the fault tests do).
      await engine.start();
      await engine.stop();
    } finally {
      await engine.close();
    }
    expect(bridges.filter(linkExists)).toEqual([]);
    expect(linkExists(engine.bridge)).toBe(false);
    expect(linkExists('docker0')).toBe(hadDocker0);
  }, 120_000);
});
