import { RedisStore } from '@dde/redis';

/**
 * The activity and coordination several application instances share in Redis (`--redis <url>`,
 * see @dde/redis), for the namespace the command works on. Connect with `start()`; it rejects
 * with `STATE_UNAVAILABLE` naming the URL when Redis cannot be reached.
 */
export function sharedState(url: string, namespace: string): RedisStore {
  return new RedisStore({ url, namespace });
}
