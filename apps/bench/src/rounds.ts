/**
 * The order targets run in, round by round. A fixed order measured whichever proxy came first
 * in the bench process while its heap and young generation were still growing (bench README,
 * "Proxy suite: order"): each round starts one target later, so that over as many rounds as
 * targets every target runs once in every position, and a median of rounds does not hand one
 * target the first position every time.
 */

/** The indices of `count` targets in the order round `round` (1-based) runs them. */
export function roundOrder(count: number, round: number): number[] {
  const shift = count === 0 ? 0 : (round - 1) % count;
  return Array.from({ length: count }, (_, i) => (i + shift) % count);
}
