import { describe, expect, it } from 'vitest';
import { firstHostAddress } from './gateway.ts';

describe('firstHostAddress', () => {
  it('is the subnet address plus one', () => {
    expect(firstHostAddress('172.17.0.0/16')).toBe('172.17.0.1');
    expect(firstHostAddress('192.168.96.0/20')).toBe('192.168.96.1');
    expect(firstHostAddress('10.0.5.0/24')).toBe('10.0.5.1');
  });

  it('masks host bits given in the subnet', () => {
    expect(firstHostAddress('172.18.3.7/16')).toBe('172.18.0.1');
  });

  it('refuses what is not an IPv4 subnet', () => {
    expect(firstHostAddress('fd00::/64')).toBeUndefined();
    expect(firstHostAddress('300.1.1.0/24')).toBeUndefined();
    expect(firstHostAddress('10.0.0.0/31')).toBeUndefined();
  });
});
