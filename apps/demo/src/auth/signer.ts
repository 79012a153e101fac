/** HMAC signatures for values the demo hands out (session cookies, data links). */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Signs and checks values with one secret. */
export class Signer {
  readonly #secret: Buffer;

  /** @param secret - at least 32 bytes of secret key material. */
  constructor(secret: Buffer) {
    if (secret.length < 32) throw new Error('the signing secret must be at least 32 bytes');
    this.#secret = secret;
  }

  /** The signature of `value` under `purpose` (so a data-link signature is no session signature). */
  sign(purpose: string, value: string): string {
    return createHmac('sha256', this.#secret).update(`${purpose}\0${value}`).digest('base64url');
  }

  /** Whether `signature` is the signature of `value` under `purpose`. */
  verify(purpose: string, value: string, signature: string): boolean {
    const expected = Buffer.from(this.sign(purpose, value));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
