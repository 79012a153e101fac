/** A mistake in the command line: printed with a hint, exit code 2. */
export class UsageError extends Error {
  /** Which command's help to point at. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/**
 * A failure the command line itself finds (not one of dde's {@link DdeError}s): printed as
 * `dde: CODE: message`, exit code 1.
 */
export class CliFailure extends Error {
  /** What went wrong, e.g. `LISTEN_FAILED`. */
  readonly code: 'LISTEN_FAILED' | 'FILE_UNREADABLE';

  constructor(code: CliFailure['code'], message: string) {
    super(message);
    this.name = 'CliFailure';
    this.code = code;
  }
}

/** Exit codes, as the docker CLI and most Unix tools use them. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** "no container named x in namespace y", with where to look. */
export function notFoundMessage(name: string, namespace: string): string {
  return `no container named ${name} in namespace ${namespace} (dde ls lists them; -n <namespace> chooses another namespace)`;
}

/** Parses `key=value` (for --env and --label), naming the option on error. */
export function keyValue(option: string, text: string, command: string): [string, string] {
  const index = text.indexOf('=');
  if (index <= 0) throw new UsageError(`${option} expects KEY=VALUE, got "${text}"`, command);
  return [text.slice(0, index), text.slice(index + 1)];
}

/** Parses a whole number option, naming it on error. */
export function wholeNumber(option: string, text: string | undefined, command: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`${option} expects a whole number, got "${text}"`, command);
  return Number(text);
}

/** Parses a decimal number option, naming it on error. */
export function decimal(option: string, text: string | undefined, command: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new UsageError(`${option} expects a number, got "${text}"`, command);
  }
  return value;
}

const HELP: Readonly<Record<string, string>> = {
  main: `dde: run per-user web tool containers and proxy them

Usage: dde <command> [options]

Commands:
  run <image> [-- command...]   launch a container
  ls                            list the containers dde manages
  logs <name>                   print a container's output
  rm <name...>                  remove containers (with their volumes)
  purge --idle 30m | --label k=v | --all
                                remove idle, labelled or all containers
  proxy                         serve the containers over HTTP and WebSocket

Global options:
  -n, --namespace <ns>   which dde namespace (default: $DDE_NAMESPACE or "default")
      --json             machine-readable output
      --backend <kind>   docker (default, or $DDE_BACKEND) or ecs (AWS ECS; AWS settings from the environment)
      --cluster <name>   ECS cluster ($DDE_ECS_CLUSTER)
      --subnet <id>      ECS awsvpc subnet, repeatable ($DDE_ECS_SUBNETS, comma-separated)
      --security-group <id>  ECS security group, repeatable ($DDE_ECS_SECURITY_GROUPS)
  -h, --help             help for a command (dde run --help)
      --version          print the version

The engine is found like the docker CLI finds it: DOCKER_HOST (with DOCKER_TLS_VERIFY and
DOCKER_CERT_PATH), then DOCKER_CONTEXT or the current context, then the local socket.

Examples:
  dde run nginx:1.27-alpine --name my-server --port 80 --input '{"a":1}' --deliver file:/usr/share/nginx/html/input.json
  dde proxy --port 8000        # then: curl http://localhost:8000/docker/my-server/input.json
  dde purge --idle 30m --history ./activity.jsonl
`,
  run: `Usage: dde run <image> [options] [-- command...]

Launch a container and wait until it runs (add --wait to wait until it answers HTTP).

Options:
      --name <name>                 container name (default: from the image plus a random suffix)
  -p, --port <port>                 port the tool listens on (default 80)
  -e, --env KEY=VALUE               environment variable (repeatable)
  -l, --label KEY=VALUE             label (repeatable)
      --input <json>                the tool's input JSON
      --input-file <path>           read the input JSON from a file
      --deliver <how>               env | file:/path/in/container | url:https://... (repeatable;
                                    default env when there is an input)
      --dir <path>                  extra writable directory, removed with the container (repeatable)
      --cpus <n>                    CPU limit in cores
      --memory-reservation <mb>     memory the tool is expected to use, in MB
      --memory-limit <mb>           hard memory limit, in MB
      --owner <id>                  the user the container belongs to
      --readiness-path <path>       path that answers 200 once ready (default /)
      --readiness-timeout <time>    how long starting may take (default 2m)
      --wait                        wait until the readiness path answers 200
      --network <name>              Docker network to join (default: the engine's bridge)
      --json                        print the container as JSON

Examples:
  dde run nginx:1.27-alpine --name viewer --memory-reservation 64 --input-file input.json --deliver file:/usr/share/nginx/html/input.json
  dde run busybox --name hello --port 8080 -- httpd -f -p 8080 -h /
`,
  ls: `Usage: dde ls [--redis <url>] [--json]

List the containers of the namespace: name, state, owner, memory, age, upstream, image; with
--redis, also when each last saw activity on any application instance sharing that Redis.

Examples:
  dde ls
  dde ls --json | jq '.[].name'
`,
  logs: `Usage: dde logs <name> [--tail <n>] [--since <time>] [--timestamps]

Print a container's stdout (to stdout) and stderr (to stderr).

Examples:
  dde logs my-server --tail 50
  dde logs my-server --since 10m --timestamps
`,
  rm: `Usage: dde rm <name...> [--json]

Remove containers whatever their state, with their volumes. Exits 1 when one did not exist.

Example:
  dde rm my-server other-server
`,
  purge: `Usage: dde purge (--idle <time> [--history <file> | --redis <url>] | --label KEY=VALUE | --all) [--dry-run] [--json]

Remove containers in bulk:
  --idle <time>      no activity for that long (30m, 2h); activity comes from the proxy's
                     history file (--history), or the activity several instances share in
                     Redis (--redis redis://host:6379); without either, a container is idle
                     since it started
  --label KEY=VALUE  carrying that label
  --all              every container of the namespace, then the namespace's own Docker
                     network (dde-<namespace>, where its containers cannot reach each other)
  --dry-run          list what would be removed, removing nothing

Examples:
  dde purge --idle 30m --history /var/lib/dde/activity.jsonl --dry-run
  dde purge --idle 30m --history /var/lib/dde/activity.jsonl
  dde purge --label course=biology-101
`,
  proxy: `Usage: dde proxy [--port <port>] [--host <addr>] [--prefix /docker | --hostname-suffix <suffix>]
                 [--history <file>] [--metrics] [--network <name>] [--drain <time>]

Serve the namespace's containers: http://HOST:PORT/docker/<name>/... (path routing, default)
or http://<name>.<suffix>:PORT/... (hostname routing), WebSockets included. Stops on Ctrl-C or
SIGTERM, gracefully: requests under way finish, WebSockets are closed with code 1001 (going
away), and what is left after the drain time is cut. A second Ctrl-C stops at once.

Options:
      --port <port>               port to listen on (default 8000)
      --host <addr>               address to listen on (default 127.0.0.1)
      --prefix <path>             path prefix for path routing (default /docker)
      --hostname-suffix <suffix>  route <name>.<suffix> instead, e.g. docker.localhost
      --history <file>            record activity as JSON lines in this file
      --metrics                   serve Prometheus metrics at /metrics
      --network <name>            the Docker network the containers joined (dde run --network)
      --drain <time>              how long a stop waits for requests and WebSockets (default 10s)

Examples:
  dde proxy --port 8000
  dde proxy --hostname-suffix docker.localhost --history ./activity.jsonl
`,
};

/** The help text of a command, or of dde itself. */
export function helpText(command?: string): string {
  return HELP[command ?? 'main'] ?? HELP.main ?? '';
}
