import type { EcsEmulator } from '@dde/test-support';
import {
  buildImage,
  cleanupNamespace,
  NAMESPACE_LABEL,
  removeEcsEmulatorLeftovers,
  startEcsEmulator,
  testDocker,
  uniqueNamespace,
} from '@dde/test-support';
import type { EcsBackendOptions } from '../src/index.ts';

/** The role ARN the emulator accepts for awslogs on Fargate (it does not check roles). */
export const EXECUTION_ROLE = 'arn:aws:iam::123456789012:role/ecsb-execution';
/** The log group the tests' task definitions write to. */
export const LOG_GROUP = '/ecsb/tools';

/** An emulator plus a busybox image its tasks (and dde's input writer) can run. */
export interface EmulatorWorld {
  readonly emulator: EcsEmulator;
  /** Labels everything the run creates; images labelled with it are removed by `close()`. */
  readonly label: string;
  /** A `FROM scratch` image with static busybox, built locally. */
  readonly image: string;
  /** Options that point an EcsBackend at the emulator's cluster (Fargate, awslogs). */
  backendOptions(namespace: string): EcsBackendOptions;
  /** Stops the emulator and removes its containers, volumes and the image. */
  close(): Promise<void>;
}

/** Starts the ECS emulator labelled `ecsb-...` and builds the busybox image. */
export async function startEmulatorWorld(): Promise<EmulatorWorld> {
  const docker = testDocker();
  const label = uniqueNamespace('ecsb');
  const emulator = await startEcsEmulator({ docker, label });
  const close = async () => {
    await emulator.close();
    await removeEcsEmulatorLeftovers(label, docker);
    await cleanupNamespace(docker, label);
  };
  try {
    const image = await buildImage(docker, `${label}-busybox:1`, { labels: { [NAMESPACE_LABEL]: label } });
    return {
      emulator,
      label,
      image,
      backendOptions: (namespace) => ({
        cluster: emulator.cluster,
        namespace,
        endpoint: emulator.endpoint,
        region: emulator.region,
        credentials: emulator.credentials,
        subnets: [...emulator.subnets],
        securityGroups: [...emulator.securityGroups],
        executionRoleArn: EXECUTION_ROLE,
        logGroup: LOG_GROUP,
        inputWriterImage: image,
        pollIntervalMs: 1_000,
        maxAttempts: 3,
      }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
