import { useSyncExternalStore } from 'react';
import { Limits } from '../../../shared/protocol/limits';

/**
 * Where the app is, in the URL's hash, so that a thread has an address of
 * its own (`#/status/<id>`) that opens in a new window, and the phone's tabs
 * work with Back: `#/` the feed, `#/notifications`, `#/following`.
 */
export type Route = { readonly view: 'home' | 'notifications' | 'following' } | { readonly view: 'status'; readonly id: string };

export const statusHref = (id: string): string => `#/status/${id}`;
export const HOME_HREF = '#/';

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  if (path === 'notifications' || path === 'following') return { view: path };
  const id = /^status\/([^/?#]+)$/.exec(path)?.[1];
  // Anything else, an id that is not one included, is the feed: a mistyped address still opens the app.
  if (id !== undefined && Limits.statusIdPattern.test(id)) return { view: 'status', id };
  return { view: 'home' };
}

const subscribe = (listener: () => void) => {
  window.addEventListener('hashchange', listener);
  return () => window.removeEventListener('hashchange', listener);
};

/** The hash itself: a string, so React sees a change only when the address changes. */
export const useHash = (): string => useSyncExternalStore(subscribe, () => window.location.hash);
