/**
 * The tools the demo ships. Each is a real program (a one-file Node server in `servers/`) in its
 * own image, built locally at first use.
 */

/** Ids of the shipped tools. */
export type ToolId = 'viewer' | 'slow' | 'broken' | 'live';

/** One parameter a tool takes from the launch form (it travels in the input JSON). */
export interface ToolParameter {
  /** Key in `input.parameters`. */
  readonly name: string;
  /** Form label. */
  readonly label: string;
  /** Value kind. */
  readonly type: 'number' | 'text';
  /** Value when the form leaves it empty. */
  readonly defaultValue: number | string;
  /** Smallest allowed number. */
  readonly min?: number;
  /** Largest allowed number (or longest text). */
  readonly max?: number;
}

/** A tool as the demo offers it. */
export interface ToolDefinition {
  /** Stable id, used in forms, names and labels. */
  readonly id: ToolId;
  /** Name shown to people. */
  readonly title: string;
  /** One sentence on what it does and what it demonstrates. */
  readonly summary: string;
  /** The server's file in `servers/`. */
  readonly server: string;
  /** Other files of `servers/` it imports. */
  readonly modules: readonly string[];
  /** Whether it shows data files (the launch form then requires one). */
  readonly usesData: boolean;
  /** Memory counted against the demo's budget, in MB. */
  readonly memoryReservationMb: number;
  /** Hard memory limit, in MB. */
  readonly memoryLimitMb: number;
  /** How long it may take to answer before it counts as failed, in ms. */
  readonly readinessTimeoutMs: number;
  /** Parameters the launch form offers. */
  readonly parameters: readonly ToolParameter[];
}

/** Every tool, in the order the launch form lists them. */
export const TOOLS: readonly ToolDefinition[] = [
  {
    id: 'viewer',
    title: 'File viewer',
    summary: 'Downloads the chosen CSV file from the demo and shows it as a table.',
    server: 'viewer.ts',
    modules: ['toolkit.ts', 'csv.ts'],
    usesData: true,
    memoryReservationMb: 128,
    memoryLimitMb: 256,
    readinessTimeoutMs: 60_000,
    parameters: [
      { name: 'maxRows', label: 'Rows to show', type: 'number', defaultValue: 200, min: 1, max: 10_000 },
    ],
  },
  {
    id: 'live',
    title: 'Live counter',
    summary: 'A shared counter and an echo chat over a WebSocket, through the proxy.',
    server: 'live.ts',
    modules: ['toolkit.ts'],
    usesData: false,
    memoryReservationMb: 96,
    memoryLimitMb: 192,
    readinessTimeoutMs: 60_000,
    parameters: [
      {
        name: 'greeting',
        label: 'Greeting',
        type: 'text',
        defaultValue: 'Hello from the live tool',
        max: 200,
      },
    ],
  },
  {
    id: 'slow',
    title: 'Slow starter',
    summary: 'Warms up for a few seconds before it listens: the please-wait page shows meanwhile.',
    server: 'slow.ts',
    modules: ['toolkit.ts'],
    usesData: false,
    memoryReservationMb: 96,
    memoryLimitMb: 192,
    readinessTimeoutMs: 120_000,
    parameters: [
      { name: 'delaySeconds', label: 'Warm-up (seconds)', type: 'number', defaultValue: 8, min: 0, max: 100 },
    ],
  },
  {
    id: 'broken',
    title: 'Crashing tool',
    summary: 'Exits with an error at start: the failure page shows its logs.',
    server: 'broken.ts',
    modules: ['toolkit.ts'],
    usesData: false,
    memoryReservationMb: 64,
    memoryLimitMb: 128,
    readinessTimeoutMs: 30_000,
    parameters: [],
  },
];

/** The tool with this id, or undefined. */
export function findTool(id: string): ToolDefinition | undefined {
  return TOOLS.find((tool) => tool.id === id);
}
