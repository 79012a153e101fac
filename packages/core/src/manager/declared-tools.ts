import type { ContainerSpec } from '../spec.ts';

/**
 * The `onDemand` option for a fixed set of tools: each name starts its template (the
 * template's own `name`, if any, is replaced by the requested one).
 *
 * @example
 * ```ts
 * new ContainerManager({ backend, onDemand: declaredTools({ notebook: { image: 'jupyter/base', port: 8888 } }) });
 * ```
 */
export function declaredTools(
  templates: Readonly<Record<string, Omit<ContainerSpec, 'name'>>>,
): (name: string) => ContainerSpec | undefined {
  return (name) => {
    const template = Object.hasOwn(templates, name) ? templates[name] : undefined;
    return template === undefined ? undefined : { ...template, name };
  };
}
