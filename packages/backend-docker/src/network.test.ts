import { describe, expect, it } from 'vitest';
import { isMissingNetwork, namespaceNetworkName } from './network.ts';

const engineError = (statusCode: number, message: string) =>
  Object.assign(new Error(message), { statusCode, json: { message } });

describe('network helpers', () => {
  it('names the namespace network after the namespace', () => {
    expect(namespaceNetworkName('team-a.prod_1')).toBe('dde-team-a.prod_1');
  });

  it('tells a missing network from a missing image', () => {
    expect(isMissingNetwork(engineError(404, 'network 3f2a not found'))).toBe(true);
    expect(isMissingNetwork(engineError(404, 'No such image: busybox:1'))).toBe(false);
    expect(isMissingNetwork(engineError(500, 'network sandbox join failed'))).toBe(false);
  });
});
