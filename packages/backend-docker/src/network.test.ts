import { describe, expect, it } from 'vitest';
import { isNetworkTrouble, namespaceNetworkName } from './network.ts';

const engineError = (statusCode: number, message: string) =>
  Object.assign(new Error(message), { statusCode, json: { message } });

describe('network helpers', () => {
  it('names the namespace network after the namespace', () => {
    expect(namespaceNetworkName('team-a.prod_1')).toBe('dde-team-a.prod_1');
  });

  it('tells a missing or doubled network from a missing image', () => {
    expect(isNetworkTrouble(engineError(404, 'network 3f2a not found'))).toBe(true);
    expect(isNetworkTrouble(engineError(404, 'No such image: busybox:1'))).toBe(false);
    expect(isNetworkTrouble(engineError(500, 'network sandbox join failed'))).toBe(false);
    expect(isNetworkTrouble(engineError(400, 'network dde-app is ambiguous (2 matches found on name)'))).toBe(
      true,
    );
  });
});
