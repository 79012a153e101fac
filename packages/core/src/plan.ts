import type { BackendCapabilities } from './backend.ts';
import { DdeError, invalidSpec } from './errors.ts';
import type { PlannedFile } from './input.ts';
import { planInputs } from './input.ts';
import { labelsFor } from './labels.ts';
import type { ContainerSpec, ResolvedSpec } from './spec.ts';
import { validateSpec } from './spec.ts';

/** Everything a backend needs to create a container, computed and checked by core. */
export interface LaunchPlan {
  /** The validated spec. */
  readonly spec: ResolvedSpec;
  /** Environment: the spec's variables plus those of the input deliveries. */
  readonly env: Readonly<Record<string, string>>;
  /** Files to place before the process starts. */
  readonly files: readonly PlannedFile[];
  /** Labels to put on the container (and its volumes). */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Validates a spec and plans its launch: input deliveries, environment and labels. Throws
 * before anything is created when the spec is invalid, the input does not fit a delivery, or
 * the backend lacks a capability the spec needs.
 */
export function planLaunch(
  spec: ContainerSpec,
  backend: { readonly namespace: string; readonly capabilities: BackendCapabilities },
): LaunchPlan {
  const resolved = validateSpec(spec);
  for (const [index, delivery] of resolved.inputs.entries()) {
    if (delivery.needsFilePlacement && !backend.capabilities.placesFiles) {
      throw new DdeError(
        'UNSUPPORTED',
        `This backend cannot place files in a container, which ${delivery.description} needs: use envInput() or urlInput()`,
        { field: `inputs[${index}]` },
      );
    }
  }
  if (resolved.extraDirectories.length > 0 && !backend.capabilities.volumes) {
    throw new DdeError('UNSUPPORTED', 'This backend cannot provide extra directories', {
      field: 'extraDirectories',
    });
  }
  const json = resolved.input === undefined ? undefined : JSON.stringify(resolved.input);
  const input = planInputs(resolved.inputs, { name: resolved.name, json });
  for (const key of Object.keys(input.env)) {
    if (key in resolved.env) {
      throw invalidSpec(
        `env.${key}`,
        `is also set by an input delivery: remove it from env or rename the delivery's variable`,
      );
    }
  }
  return {
    spec: resolved,
    env: { ...resolved.env, ...input.env },
    files: input.files,
    labels: labelsFor(resolved, backend.namespace),
  };
}
