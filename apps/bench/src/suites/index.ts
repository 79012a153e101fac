/**
 * The suites `--suite` runs besides `proxy` (which is main.ts's own run). Each suite lives in
 * its own module under `suites/` and is registered here.
 */
import { burst } from './burst.ts';
import { coldstart } from './coldstart.ts';
import { scale } from './scale.ts';
import type { Suite, SuiteId } from './types.ts';

/** Suites by id; an id missing here is reported as not implemented. */
export const SUITES: Partial<Record<Exclude<SuiteId, 'proxy'>, Suite>> = {
  burst,
  coldstart,
  scale,
};
