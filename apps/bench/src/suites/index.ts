/**
 * The suites `--suite` runs besides `proxy` (which is main.ts's own run). Each suite lives in
 * its own module under `suites/` and is registered here.
 */
import { bodiesSuite } from './bodies.ts';
import { burst } from './burst.ts';
import { coldstart } from './coldstart.ts';
import { memorySuite } from './memory.ts';
import { scale } from './scale.ts';
import type { Suite, SuiteId } from './types.ts';
import { wsSuite } from './ws.ts';

/** Suites by id; an id missing here is reported as not implemented. */
export const SUITES: Partial<Record<Exclude<SuiteId, 'proxy'>, Suite>> = {
  ws: wsSuite,
  bodies: bodiesSuite,
  coldstart,
  burst,
  scale,
  memory: memorySuite,
};
