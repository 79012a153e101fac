/** Which engine a dockerode client talks to, for messages and for the `local` flag. */
import type Dockerode from 'dockerode';
import { DEFAULT_SOCKET_PATH, endpointUrl, isLoopbackHost } from './engine.ts';
import { SshAgent } from './ssh.ts';

/** The engine a `DockerBackend` talks to. */
export interface EngineSummary {
  /** Its address, e.g. `unix:///var/run/docker.sock` or `tcp://10.0.1.5:2376`. */
  readonly url: string;
  /** Whether it runs on this machine (unix socket, named pipe, or TCP on loopback). */
  readonly local: boolean;
}

/** The engine `docker` is configured for, and its host name when it is reached over the network. */
export function describeClient(docker: Dockerode): { summary: EngineSummary; host: string | undefined } {
  const modem = docker.modem as unknown as {
    agent?: unknown;
    host?: string;
    port?: string | number;
    protocol?: string;
    socketPath?: unknown;
  };
  if (modem.agent instanceof SshAgent) {
    const { host, port, username } = modem.agent.target;
    return { summary: { url: endpointUrl({ kind: 'ssh', host, port, username }), local: false }, host };
  }
  if (modem.host) {
    const ssh = modem.protocol === 'ssh';
    const url = `${ssh ? 'ssh' : 'tcp'}://${modem.host}${modem.port ? `:${modem.port}` : ''}`;
    return { summary: { url, local: !ssh && isLoopbackHost(modem.host) }, host: modem.host };
  }
  // docker-modem's own default is a function that picks ~/.docker/run/docker.sock or the system socket.
  const socket = typeof modem.socketPath === 'string' ? modem.socketPath : DEFAULT_SOCKET_PATH;
  return { summary: { url: `unix://${socket}`, local: true }, host: undefined };
}
