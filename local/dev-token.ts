import { signToken } from '../shared/auth';
import { Limits } from '../shared/protocol';
import { json, type HttpRoute } from './http';

export interface DevTokenOptions {
  /** The hs256 secret the local authorizer reads; undefined in jwks mode, where tokens come from an issuer. */
  readonly secret: string | undefined;
  /** The authorizer's audience (`-c jwtAudience`): dev tokens must carry it to be accepted. */
  readonly audience?: string;
  readonly wsUrl: string;
}

/**
 * `GET /dev/token?user=<id>`: a token the local authorizer accepts, signed
 * with the same secret, and the URL to use it on. Only the local stack has it.
 */
export function devTokenRoute(options: DevTokenOptions): HttpRoute {
  return async (req, res, url) => {
    if (req.method !== 'GET' || url.pathname !== '/dev/token') return false;
    const user = url.searchParams.get('user') ?? '';
    if (!Limits.userIdPattern.test(user)) {
      json(res, 400, { error: 'bad_request', message: "user must be 1 to 64 letters, digits, '-' or '_'" });
      return true;
    }
    if (options.secret === undefined) {
      // jwks mode: tokens come from the issuer, which the local stack cannot stand in for.
      json(res, 501, { error: 'not_implemented', message: 'this stack verifies tokens from an OIDC issuer (authMode jwks); dev tokens need hs256' });
      return true;
    }
    const audience = options.audience === undefined ? {} : { audience: options.audience };
    json(res, 200, { token: await signToken(user, options.secret, '12h', audience), wsUrl: options.wsUrl });
    return true;
  };
}
