export { type ExpressProxy, type ExpressProxyOptions, expressProxy } from './express-proxy.ts';
