/** The parts of the engine's `GET /containers/{id}/json` answer this backend reads. */
export interface ContainerJson {
  readonly Id: string;
  /** With a leading slash, e.g. `/alice-viewer`. */
  readonly Name: string;
  readonly Created: string;
  readonly State: {
    readonly Status: string;
    readonly ExitCode: number;
    readonly StartedAt: string;
    readonly FinishedAt: string;
  };
  readonly Config: {
    readonly Image: string;
    readonly Labels: Readonly<Record<string, string>> | null;
    readonly Tty: boolean;
  };
  readonly HostConfig: {
    readonly Memory?: number;
    readonly MemoryReservation?: number;
    readonly NanoCpus?: number;
  };
  readonly NetworkSettings: {
    readonly Ports?: Readonly<Record<string, readonly PortBinding[] | null>> | null;
    readonly Networks?: Readonly<Record<string, { readonly IPAddress?: string }>> | null;
  };
  readonly Mounts?: readonly { readonly Type: string; readonly Name?: string }[];
}

/** A published port of a container. */
export interface PortBinding {
  readonly HostIp: string;
  readonly HostPort: string;
}

/** One entry of `GET /containers/json`. */
export interface ContainerSummary {
  readonly Id: string;
  readonly Names: readonly string[];
  readonly Labels: Readonly<Record<string, string>> | null;
}

/** One entry of `GET /volumes`. */
export interface VolumeSummary {
  readonly Name: string;
  readonly Labels: Readonly<Record<string, string>> | null;
}
