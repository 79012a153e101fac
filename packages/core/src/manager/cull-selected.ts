import type { OperationOptions } from '../backend.ts';
import { throwIfAborted } from '../errors.ts';
import type { History } from '../history/history.ts';
import type { CullDecision, CullPolicy } from '../lifecycle/culling.ts';
import { selectForCulling } from '../lifecycle/culling.ts';
import type { Logger } from '../lifecycle/logger.ts';
import type { RemovalReason } from '../lifecycle/metrics.ts';
import { cullCandidates } from './policies.ts';
import type { RouteEntry } from './route-table.ts';

/** What {@link cullSelected} needs of its manager. */
export interface CullContext {
  /** The manager's routes now. */
  entries(): Iterable<RouteEntry>;
  /** The route of that name now. */
  get(name: string): RouteEntry | undefined;
  /** Where activity is recorded. */
  history(): History;
  /** Where to log. */
  logger(): Logger;
  /** Whether another instance serves the container. */
  busyElsewhere(name: string): boolean;
  /** Whether a removal of the container is under way. */
  removing(name: string): boolean;
  /** Removes a container. */
  remove(name: string, options: OperationOptions & { reason: RemovalReason }): Promise<boolean>;
}

/**
 * Removes the containers `policy` selects. Each removal takes an engine call, during which
 * the next candidates may become active: each is decided again just before its removal. A
 * removal that fails is logged and the others go on.
 */
export async function cullSelected(
  context: CullContext,
  policy: CullPolicy,
  includeStarting: boolean,
  options: OperationOptions,
  sorted = false,
): Promise<CullDecision[]> {
  const selected = selectForCulling(
    cullCandidates(
      context.entries(),
      context.history(),
      includeStarting,
      context.logger(),
      context.busyElsewhere,
    ),
    policy,
    Date.now(),
  ).map((decision) => decision.name);
  if (sorted) selected.sort();
  const removed: CullDecision[] = [];
  for (const name of selected) {
    throwIfAborted(options.signal, 'Culling containers');
    const entry = context.get(name);
    // Already on its way out (an earlier culling round still waiting for the engine): removing
    // it again would count the removal twice.
    if (entry === undefined || context.removing(name)) continue;
    const [decision] = selectForCulling(
      cullCandidates([entry], context.history(), includeStarting, context.logger(), context.busyElsewhere),
      policy,
      Date.now(),
    );
    if (decision === undefined) continue;
    try {
      if (await context.remove(name, { ...options, reason: decision.reason })) removed.push(decision);
    } catch (error) {
      // One container that cannot be removed must not stop the culling of the others.
      if (options.signal?.aborted) throw error;
      context.logger().warn({ name, error }, 'cannot remove container');
    }
  }
  return removed;
}
