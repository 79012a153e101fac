export { type HostnameRouterOptions, hostnameRouter } from './hostname-router.ts';
export { type PathRouterOptions, pathRouter } from './path-router.ts';
export {
  type PublicUrlOptions,
  RESERVED_PATH_PREFIX,
  type RouteMatch,
  type RouteRedirect,
  type RouteRejection,
  type RouteResult,
  type Router,
} from './router.ts';
