/**
 * Where a launch is, as the please-wait page shows it: the image build, then the container's
 * phases from the manager's route table, and on failure the reason and the container's logs.
 */
import type { ContainerManager, ContainerPhase, LogEntry } from '@dde/core';
import type { BuildProgress } from '../images/builder.ts';
import { findTool } from '../tools/catalog.ts';
import type { JobEvent } from './job.ts';
import type { Launcher } from './launcher.ts';
import { DEMO_LABELS } from './launcher.ts';

/** The state of one step of a launch. */
export type StepState = 'pending' | 'current' | 'done' | 'failed';

/** One step of a launch as the page lists it. */
export interface LaunchStep {
  /** Stable key. */
  readonly key: 'image' | 'create' | 'start' | 'probe' | 'ready';
  /** What the step does. */
  readonly label: string;
  /** How far it got. */
  readonly state: StepState;
}

/** Where a launch is. */
export interface LaunchStatus {
  /** Container name. */
  readonly name: string;
  /** Tool title. */
  readonly toolTitle: string;
  /** Who launched it. */
  readonly owner: string | undefined;
  /** Where the tool is, once ready. */
  readonly publicUrl: string;
  /** `image` while the image is built; then the container's phase. */
  readonly phase: 'image' | ContainerPhase;
  /** A sentence on what happens now. */
  readonly headline: string;
  /** Why it failed. */
  readonly failure: string | undefined;
  /** The latest image build progress, while building. */
  readonly build: BuildProgress | undefined;
  /** The steps, each with its state. */
  readonly steps: readonly LaunchStep[];
  /** The launch's activity log. */
  readonly events: readonly JobEvent[];
  /** The container's last log lines, when it failed. */
  readonly logs: readonly LogEntry[];
  /** Whether the demo can launch it again with the same choices (it remembers the launch). */
  readonly relaunchable: boolean;
}

const STEPS: readonly Omit<LaunchStep, 'state'>[] = [
  { key: 'image', label: 'Find or build the tool image' },
  { key: 'create', label: 'Create the container and hand it the input' },
  { key: 'start', label: 'Start the container' },
  { key: 'probe', label: 'Wait until the tool answers' },
  { key: 'ready', label: 'Open the tool' },
];

const PHASE_STEP: Readonly<Record<'image' | ContainerPhase, number>> = {
  image: 0,
  queued: 1,
  pulling: 1,
  creating: 1,
  starting: 2,
  probing: 3,
  ready: 5,
  failed: 3,
};

const HEADLINE: Readonly<Record<'image' | ContainerPhase, string>> = {
  image: 'Preparing the tool image…',
  queued: 'Waiting for a start slot: other tools are starting…',
  pulling: 'Pulling the image…',
  creating: 'Creating the container…',
  starting: 'Starting the container…',
  probing: 'The container runs; waiting for the tool to answer…',
  ready: 'Ready: opening the tool.',
  failed: 'The tool failed to start.',
};

/** The status of the launch or container `name`, or undefined when neither exists. */
export async function launchStatus(
  name: string,
  launcher: Launcher,
  manager: ContainerManager,
  publicUrlOf: (name: string) => string,
): Promise<LaunchStatus | undefined> {
  const job = launcher.job(name);
  const route = manager.get(name);
  if (!job && !route) return undefined;
  const toolId = job?.details.tool ?? route?.info.labels[DEMO_LABELS.tool] ?? '';
  // The launcher fails a job only when its container never ran: a route still in the table
  // then is the refused container on its way out, not a launch to follow.
  const failedEarly = job?.stage === 'failed';
  const admitting = job?.stage === 'admission' || job?.stage === 'container';
  const phase: 'image' | ContainerPhase = failedEarly
    ? 'failed'
    : route
      ? route.phase
      : admitting
        ? 'creating'
        : 'image';
  const failure = failedEarly ? job?.error : route?.phase === 'failed' ? route.failure?.message : undefined;
  let current = PHASE_STEP[phase];
  if (failedEarly) current = job?.build?.stage === 'built' || job?.build?.stage === 'present' ? 1 : 0;
  const steps = STEPS.map((step, index): LaunchStep => {
    const state: StepState =
      index < current ? 'done' : index > current ? 'pending' : phase === 'failed' ? 'failed' : 'current';
    return { ...step, state };
  });
  let logs: LogEntry[] = [];
  if (phase === 'failed' && route) {
    logs = await manager.logs(name, { tail: 80, signal: AbortSignal.timeout(5000) }).catch(() => []);
  }
  return {
    name,
    toolTitle: findTool(toolId)?.title ?? (toolId || 'Unknown tool'),
    owner: job?.details.owner ?? route?.info.owner,
    publicUrl: job?.details.publicUrl ?? publicUrlOf(name),
    phase,
    headline:
      phase === 'queued' && route?.queuePosition !== undefined
        ? `Waiting for a start slot (number ${route.queuePosition} in line): other tools are starting…`
        : HEADLINE[phase],
    failure,
    build: phase === 'image' ? job?.build : undefined,
    steps,
    events: job?.events ?? [],
    logs,
    relaunchable: launcher.relaunchable(name) !== undefined,
  };
}
