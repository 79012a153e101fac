import { describe, expect, it } from 'vitest';
import { responseEnd } from './connections.ts';

describe('responseEnd', () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nconnection: keep-alive\r\n\r\n';
  it('finds the end of a response once its whole body has arrived', () => {
    expect(responseEnd(head.slice(0, 20))).toBe(-1);
    expect(responseEnd(`${head}abc`)).toBe(-1);
    expect(responseEnd(`${head}abcde`)).toBe(head.length + 5);
  });

  it('refuses a response it cannot delimit', () => {
    expect(() => responseEnd('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n')).toThrow(
      /Content-Length/,
    );
  });
});
