/** The question the Kill button asks before removing a container. */
export function killQuestion(name: string, openWebSockets: number): string {
  const inUse =
    openWebSockets > 0
      ? ` It has ${openWebSockets} open WebSocket${openWebSockets === 1 ? '' : 's'}: someone is using it right now.`
      : '';
  return `Kill ${name}? The tool stops and whatever is unsaved in it is lost.${inUse}`;
}
