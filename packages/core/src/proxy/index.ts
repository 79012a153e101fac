export { type AttachableProxy, attachableProxy, attachUpgrades } from './attach.ts';
export { closeServer } from './close-server.ts';
export { createProxy } from './create-proxy.ts';
export type { PleaseWaitOptions } from './pages.ts';
export type {
  AuthorizeContext,
  DdeProxy,
  NotFoundAnswer,
  NotFoundContext,
  NotFoundPage,
  NotFoundRedirect,
  NotFoundText,
  ProxyOptions,
  RouteSource,
} from './proxy-options.ts';
export { type CloseOptions, DEFAULT_DRAIN_MS } from './shutdown.ts';
