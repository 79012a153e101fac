export { type KoaProxy, type KoaProxyOptions, koaProxy } from './koa-proxy.ts';
