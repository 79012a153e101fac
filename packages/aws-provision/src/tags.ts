/** The tag every resource dde-aws creates carries, with the value `true`. */
export const MANAGED_TAG = 'dde:managed';
/** What a resource belongs to: `docker-host` or `ecs-setup`. */
export const KIND_TAG = 'dde:kind';
/** The dde name of the host or setup it belongs to. */
export const NAME_TAG = 'dde:name';
/** Every stack dde-aws makes is named `dde-host-<name>` or `dde-ecs-<name>`. */
export const STACK_PREFIX = 'dde-';

/** What a stack is: a Docker host or an ECS setup. */
export type StackKind = 'docker-host' | 'ecs-setup';

/** The stack name of a host or setup. */
export function stackNameOf(kind: StackKind, name: string): string {
  return `${STACK_PREFIX}${kind === 'docker-host' ? 'host' : 'ecs'}-${name}`;
}

/** The tags of everything belonging to one host or setup, the caller's extra tags first. */
export function tagsOf(
  kind: StackKind,
  name: string,
  extra: Readonly<Record<string, string>> = {},
): Array<{ Key: string; Value: string }> {
  return [
    ...Object.entries(extra).map(([Key, Value]) => ({ Key, Value })),
    { Key: MANAGED_TAG, Value: 'true' },
    { Key: KIND_TAG, Value: kind },
    { Key: NAME_TAG, Value: name },
  ];
}

/** How messages name each kind, and the dde-aws command group that manages it. */
export const KIND_WORDS: Readonly<Record<StackKind, { readonly title: string; readonly command: string }>> = {
  'docker-host': { title: 'Docker host', command: 'host' },
  'ecs-setup': { title: 'ECS setup', command: 'ecs' },
};
