export { type AttachableProxy, attachableProxy, attachUpgrades } from './attach.ts';
export { closeServer } from './close-server.ts';
export {
  type AuthorizeContext,
  createProxy,
  type DdeProxy,
  type NotFoundAnswer,
  type NotFoundContext,
  type NotFoundPage,
  type NotFoundRedirect,
  type NotFoundText,
  type ProxyOptions,
  type RouteSource,
} from './create-proxy.ts';
export type { PleaseWaitOptions } from './pages.ts';
export { type CloseOptions, DEFAULT_DRAIN_MS } from './shutdown.ts';
