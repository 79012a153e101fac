import { randomUUID } from 'node:crypto';
import { AwsError } from './protocol.ts';
import type { EcsStore } from './store.ts';
import { taskIp } from './tasks.ts';

/**
 * EC2's DescribeInstances (query protocol, XML answers) for the emulator's container instances:
 * their private address is 127.0.0.1, where bridge tasks publish their ports.
 */

/** The network the emulator pretends its subnets live in. */
export interface Ec2World {
  readonly store: EcsStore;
  readonly vpcId: string;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
}

const NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

function xmlText(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The numbered members `InstanceId.1`, `InstanceId.2`, ... of a query request. */
function members(form: URLSearchParams, name: string): string[] {
  const values: string[] = [];
  for (let index = 1; form.has(`${name}.${index}`); index++) values.push(form.get(`${name}.${index}`) ?? '');
  return values;
}

/** DescribeInstances by `InstanceId.N` (all instances when none is named). */
export function describeInstances(world: Ec2World, form: URLSearchParams): string {
  const wanted = members(form, 'InstanceId');
  const instances = [...world.store.clusters.values()].flatMap((cluster) => cluster.instances);
  const unknown = wanted.filter((id) => !instances.some((instance) => instance.ec2InstanceId === id));
  if (unknown.length > 0) {
    throw new AwsError('InvalidInstanceID.NotFound', `The instance IDs '${unknown.join(', ')}' do not exist`);
  }
  const chosen =
    wanted.length === 0 ? instances : instances.filter((instance) => wanted.includes(instance.ec2InstanceId));
  const items = chosen
    .map(
      (instance) =>
        `<item><reservationId>r-${instance.id.slice(0, 17)}</reservationId><ownerId>${world.store.accountId}</ownerId><groupSet/><instancesSet><item>` +
        `<instanceId>${xmlText(instance.ec2InstanceId)}</instanceId><imageId>ami-00000000000000000</imageId>` +
        '<instanceState><code>16</code><name>running</name></instanceState>' +
        '<privateDnsName>localhost</privateDnsName><dnsName></dnsName><instanceType>m5.large</instanceType>' +
        `<placement><availabilityZone>${world.store.region}a</availabilityZone><tenancy>default</tenancy></placement>` +
        `<subnetId>${xmlText(world.subnets[0] ?? '')}</subnetId><vpcId>${xmlText(world.vpcId)}</vpcId>` +
        '<privateIpAddress>127.0.0.1</privateIpAddress>' +
        `<groupSet><item><groupId>${xmlText(world.securityGroups[0] ?? '')}</groupId><groupName>emulator</groupName></item></groupSet>` +
        '<architecture>x86_64</architecture></item></instancesSet></item>',
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="${NAMESPACE}"><requestId>${randomUUID()}</requestId><reservationSet>${items}</reservationSet></DescribeInstancesResponse>`;
}

/**
 * DescribeNetworkInterfaces by `NetworkInterfaceId.N`: the ENIs of awsvpc tasks that have not
 * stopped. A task started with `assignPublicIp: ENABLED` reports its bridge IP as the public one
 * too: from this host, that is the address "outside the VPC" that reaches it.
 */
export function describeNetworkInterfaces(world: Ec2World, form: URLSearchParams): string {
  const wanted = members(form, 'NetworkInterfaceId');
  const tasks = [...world.store.tasks.values()].filter(
    (task) => task.network && task.lastStatus !== 'STOPPED',
  );
  const unknown = wanted.filter((id) => !tasks.some((task) => task.network?.eniId === id));
  if (unknown.length > 0) {
    throw new AwsError(
      'InvalidNetworkInterfaceID.NotFound',
      `The networkInterface ID '${unknown.join(', ')}' does not exist`,
    );
  }
  const items = tasks
    .filter((task) => wanted.length === 0 || wanted.includes(task.network?.eniId ?? ''))
    .map((task) => {
      const network = task.network;
      const ip = taskIp(task) ?? '';
      const association =
        network?.assignPublicIp && ip
          ? `<association><publicIp>${ip}</publicIp><ipOwnerId>amazon</ipOwnerId></association>`
          : '';
      return (
        `<item><networkInterfaceId>${xmlText(network?.eniId ?? '')}</networkInterfaceId>` +
        `<subnetId>${xmlText(network?.subnet ?? '')}</subnetId><vpcId>${xmlText(world.vpcId)}</vpcId>` +
        `<availabilityZone>${world.store.region}a</availabilityZone><description>arn:aws:ecs:${world.store.region}:attachment/${network?.attachmentId}</description>` +
        `<ownerId>${world.store.accountId}</ownerId><requesterManaged>true</requesterManaged><status>in-use</status>` +
        `<macAddress>${network?.mac}</macAddress><privateIpAddress>${ip}</privateIpAddress><sourceDestCheck>true</sourceDestCheck>` +
        `<groupSet>${(network?.securityGroups ?? []).map((group) => `<item><groupId>${xmlText(group)}</groupId><groupName>emulator</groupName></item>`).join('')}</groupSet>` +
        `<interfaceType>interface</interfaceType>${association}` +
        `<privateIpAddressesSet><item><privateIpAddress>${ip}</privateIpAddress><primary>true</primary>${association}</item></privateIpAddressesSet></item>`
      );
    })
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeNetworkInterfacesResponse xmlns="${NAMESPACE}"><requestId>${randomUUID()}</requestId><networkInterfaceSet>${items}</networkInterfaceSet></DescribeNetworkInterfacesResponse>`;
}

/** EC2's error document. */
export function ec2ErrorXml(error: AwsError): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlText(error.type)}</Code><Message>${xmlText(error.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
}
