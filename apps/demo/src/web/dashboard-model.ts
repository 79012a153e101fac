/**
 * What the dashboard shows, gathered from the container manager (route table, memory budget and
 * eviction order; no engine call), the request history, the launches still building their image
 * and the containers removed lately.
 */
import type { ContainerManager, ContainerPhase, ContainerState } from '@dde/core';
import type { Launcher } from '../launch/launcher.ts';
import { DEMO_LABELS } from '../launch/launcher.ts';
import type { Removal, RemovalLog } from '../launch/removals.ts';
import { findTool } from '../tools/catalog.ts';

/** A container's phase, or `image` while its launch builds the image. */
export type RowPhase = 'image' | ContainerPhase;

/** One row of the dashboard. */
export interface ContainerRow {
  /** Container name. */
  readonly name: string;
  /** Tool title. */
  readonly toolTitle: string;
  /** Data file shown, if any. */
  readonly fileName: string | undefined;
  /** Who launched it. */
  readonly owner: string | undefined;
  /** Readiness phase. */
  readonly phase: RowPhase;
  /**
   * Engine state; `building` while the launch builds the image, `admitting` while the manager
   * checks the limits and the budget, `not created` when it failed before the container existed.
   */
  readonly state: ContainerState | 'building' | 'admitting' | 'not created';
  /** Why it failed. */
  readonly failure: string | undefined;
  /** Memory reservation, in MB. */
  readonly memoryMb: number | undefined;
  /** When it was created (or its launch asked for). */
  readonly createdAt: number;
  /** Last proxied request or WebSocket activity; undefined when there was none. */
  readonly lastActivity: number | undefined;
  /** WebSocket sessions open now. */
  readonly openWebSockets: number;
  /** Its public URL. */
  readonly url: string;
}

/** The memory budget as the dashboard shows it. */
export interface BudgetView {
  /** The budget, in MB. */
  readonly budgetMb: number;
  /** MB reserved by the manager's containers. */
  readonly usedMb: number;
  /** What LRU eviction would remove next, first first. */
  readonly evictionOrder: readonly string[];
}

/** The rules the manager applies, for the dashboard's explanation. */
export interface PolicyView {
  /** Idle timeout of culling, in ms, when set. */
  readonly idleTimeoutMs: number | undefined;
  /** Most containers per person, when set. */
  readonly maxPerOwner: number | undefined;
}

/** The whole dashboard. */
export interface DashboardModel {
  /** Containers, newest first. */
  readonly rows: readonly ContainerRow[];
  /** Budget in use and the LRU eviction order (across everyone's containers). */
  readonly capacity: BudgetView;
  /** The manager's rules. */
  readonly policies: PolicyView;
  /** Containers removed lately, newest first (the user's own with login). */
  readonly removals: readonly Removal[];
  /** When this was gathered. */
  readonly now: number;
}

/** Sources of the dashboard. */
export interface DashboardSources {
  /** Tracks the containers. */
  readonly manager: ContainerManager;
  /** Launches under way. */
  readonly launcher: Launcher;
  /** Containers removed lately. */
  readonly removals: RemovalLog;
  /** The manager's rules. */
  readonly policies: PolicyView & { readonly budgetMb: number };
  /** A container's public URL. */
  readonly publicUrlOf: (name: string) => string;
}

const MAX_REMOVALS_SHOWN = 5;

/** Gathers the dashboard; `owner` limits the rows to one person's containers. */
export function dashboardModel(sources: DashboardSources, owner?: string): DashboardModel {
  const { manager, launcher, removals, policies, publicUrlOf } = sources;
  const rows: ContainerRow[] = [];
  for (const route of manager.list()) {
    const info = route.info;
    const job = launcher.job(route.name);
    const toolId = info.labels[DEMO_LABELS.tool] ?? job?.details.tool ?? '';
    const activity = manager.history.lastActivity(route.name)?.getTime();
    rows.push({
      name: route.name,
      toolTitle: findTool(toolId)?.title ?? (toolId || 'not a demo tool'),
      fileName: info.labels[DEMO_LABELS.file] || job?.details.fileName || undefined,
      owner: info.owner,
      phase: route.phase,
      state: info.state,
      failure: route.phase === 'failed' ? route.failure?.message : undefined,
      memoryMb: info.memoryReservationMb,
      createdAt: info.createdAt.getTime(),
      lastActivity: activity,
      openWebSockets: route.openWebSockets,
      url: publicUrlOf(route.name),
    });
  }
  for (const job of launcher.jobsWithoutContainer()) {
    rows.push({
      name: job.name,
      toolTitle: findTool(job.details.tool)?.title ?? job.details.tool,
      fileName: job.details.fileName,
      owner: job.details.owner,
      phase: job.stage === 'failed' ? 'failed' : 'image',
      state: job.stage === 'image' ? 'building' : job.stage === 'failed' ? 'not created' : 'admitting',
      failure: job.error,
      memoryMb: job.details.memoryReservationMb,
      createdAt: job.startedAt,
      lastActivity: undefined,
      openWebSockets: 0,
      url: job.details.publicUrl,
    });
  }
  const capacity = manager.capacity();
  rows.sort((a, b) => b.createdAt - a.createdAt || (a.name < b.name ? -1 : 1));
  return {
    rows: owner === undefined ? rows : rows.filter((row) => row.owner === owner),
    capacity: { ...capacity, budgetMb: capacity.budgetMb ?? policies.budgetMb },
    policies: { idleTimeoutMs: policies.idleTimeoutMs, maxPerOwner: policies.maxPerOwner },
    removals: removals.list(owner).slice(0, MAX_REMOVALS_SHOWN),
    now: Date.now(),
  };
}
