import { decodeJwt } from 'jose';
import { isRecord } from '../../../shared/protocol/frames';

/** Where the app finds its stack: `/config.json`, written by the local stack or by the deployment. */
export interface AppConfig {
  readonly wsUrl: string;
  /** The local stack hands out tokens for any user id; a deployed stack does not. */
  readonly devTokens: boolean;
  /** The reconnect backoff's ceiling, ms, sized to the deployment's expected connections (shared/client/backoff.ts `fleetBackoff`); absent: the client's default. */
  readonly reconnectMaxMs?: number;
}

export interface Session {
  readonly user: string;
  readonly token: string;
}

const KEY = 'updraft.session';
export const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch('./config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`could not load config.json (HTTP ${response.status})`);
  const body: unknown = await response.json();
  if (!isRecord(body) || typeof body['wsUrl'] !== 'string') throw new Error('config.json has no wsUrl');
  const reconnectMaxMs = body['reconnectMaxMs'];
  return {
    wsUrl: body['wsUrl'],
    devTokens: body['devTokens'] === true,
    ...(typeof reconnectMaxMs === 'number' && Number.isFinite(reconnectMaxMs) && reconnectMaxMs > 0 ? { reconnectMaxMs } : {}),
  };
}

/** A dev token from the local stack; a fresh one on every call, so a reconnection never uses an expired one. */
export async function devToken(user: string): Promise<string> {
  const response = await fetch(`./dev/token?user=${encodeURIComponent(user)}`);
  const body: unknown = await response.json().catch(() => undefined);
  const token = isRecord(body) ? body['token'] : undefined;
  if (response.ok && typeof token === 'string' && token !== '') return token;
  const message = isRecord(body) ? body['message'] : undefined;
  throw new Error(typeof message === 'string' ? message : `HTTP ${response.status}`);
}

/** The user a token names, or an error that says why it will not do. */
export function userOf(token: string): string {
  let claims: ReturnType<typeof decodeJwt>;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new Error('that is not a JWT');
  }
  if (typeof claims.sub !== 'string' || !USER_ID.test(claims.sub)) throw new Error('the token has no valid user id (sub)');
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) throw new Error('the token has expired');
  return claims.sub;
}

/** Kept per tab (sessionStorage), so two windows can be two people. */
export function savedSession(): Session | undefined {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  // Written by this app, but storage is the user's to edit: read it as anything.
  if (!isRecord(value)) return undefined;
  const { user, token } = value;
  return typeof user === 'string' && USER_ID.test(user) && typeof token === 'string' ? { user, token } : undefined;
}

export function saveSession(session: Session | undefined): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}
