import { SignJWT, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Limits } from './protocol';

/** The token was refused: the handshake gets 401. Anything else thrown while verifying is a failure of ours. */
export class InvalidToken extends Error {
  override readonly name = 'InvalidToken';
}

/** Who a verified token names, and until when (seconds since the epoch: the token's `exp`, or `iat` plus the maximum age if sooner). */
export interface Identity {
  readonly userId: string;
  readonly expiresAt: number;
}

/**
 * How tokens are checked. Two modes, chosen by CDK context `authMode`:
 * - `hs256`: signed with the stack's secret (development, tests, the local stack);
 * - `jwks`: signed by an OIDC issuer whose keys are published at `jwksUrl`.
 */
export type AuthSettings = ModeSettings & {
  /**
   * The oldest a token may be, in seconds from its `iat` (which is then required). A token
   * older is refused, and a connection ends at `iat` plus this even if `exp` is later.
   * @default no limit
   */
  readonly maxTokenAgeSeconds?: number;
};

type ModeSettings =
  | {
      readonly mode: 'hs256';
      /** The signing key; called per token, so the caller decides how it caches. */
      readonly secret: () => Promise<string>;
      /** When set, `aud` must name one of these. */
      readonly audience?: readonly string[];
    }
  | {
      readonly mode: 'jwks';
      readonly jwksUrl: string;
      readonly issuer: string;
      /** One of these must appear in `audienceClaim`. */
      readonly audience: readonly string[];
      /**
       * `aud` for OIDC providers. Cognito access tokens carry no `aud`: they name
       * their app client in `client_id`, which is checked instead.
       * @default 'aud'
       */
      readonly audienceClaim?: 'aud' | 'client_id';
      /** Cognito's `token_use` (`access` or `id`), when set, must match. */
      readonly tokenUse?: string;
    };

/** Asymmetric algorithms only in jwks mode: a public key must never be taken as an HMAC secret. */
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** jose's codes for a token that is bad in itself, as opposed to a key that could not be fetched. */
const REFUSALS = new Set([
  'ERR_JWT_EXPIRED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_INVALID',
  'ERR_JWS_INVALID',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
]);

const encoder = new TextEncoder();

/**
 * Builds the verifier for one mode. Expiry is always required and enforced;
 * so is a subject that is a valid user id, and the audience whenever one is
 * configured (always in jwks mode). A bad token throws InvalidToken; a key
 * that cannot be had (Secrets Manager or the JWKS endpoint failing) throws
 * what it threw, so that it is not mistaken for a user's mistake.
 */
export function tokenVerifier(settings: AuthSettings): (token: string) => Promise<Identity> {
  const key: JWTVerifyGetKey =
    settings.mode === 'hs256' ? async () => encoder.encode(await settings.secret()) : createRemoteJWKSet(new URL(settings.jwksUrl));
  const audienceClaim = settings.mode === 'jwks' ? (settings.audienceClaim ?? 'aud') : 'aud';
  const audience = settings.audience && settings.audience.length > 0 ? [...settings.audience] : undefined;
  const maxAge = settings.maxTokenAgeSeconds;
  const options = {
    algorithms: settings.mode === 'hs256' ? ['HS256'] : JWKS_ALGORITHMS,
    requiredClaims: maxAge === undefined ? ['sub', 'exp'] : ['sub', 'exp', 'iat'],
    // jose refuses a token whose `iat` is older than this, or in the future.
    ...(maxAge === undefined ? {} : { maxTokenAge: maxAge }),
    ...(settings.mode === 'jwks' ? { issuer: settings.issuer } : {}),
    ...(audience && audienceClaim === 'aud' ? { audience } : {}),
  };
  const tokenUse = settings.mode === 'jwks' ? settings.tokenUse : undefined;

  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, options));
    } catch (error) {
      if (error instanceof errors.JOSEError && REFUSALS.has(error.code)) throw new InvalidToken(error.message);
      throw error;
    }
    if (audience && audienceClaim === 'client_id' && !(typeof payload['client_id'] === 'string' && audience.includes(payload['client_id']))) {
      throw new InvalidToken('client_id names another app client');
    }
    if (tokenUse !== undefined && payload['token_use'] !== tokenUse) throw new InvalidToken(`token_use is not ${tokenUse}`);
    if (typeof payload.sub !== 'string' || !Limits.userIdPattern.test(payload.sub)) throw new InvalidToken('sub is not a user id');
    // jwtVerify requires exp (requiredClaims) and checks it is a number; this says so to the type checker.
    if (typeof payload.exp !== 'number') throw new InvalidToken('exp is missing');
    // An `exp` years away does not keep a connection open past the maximum age.
    const expiresAt = maxAge === undefined || typeof payload.iat !== 'number' ? payload.exp : Math.min(payload.exp, payload.iat + maxAge);
    return { userId: payload.sub, expiresAt };
  };
}

/** Signs an HS256 token for `userId`; used by the local stack's dev endpoint, scripts/token.ts and tests. */
export async function signToken(
  userId: string,
  secret: string,
  expiresIn: string | number = '12h',
  options: { readonly audience?: string } = {},
): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt().setExpirationTime(expiresIn);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  return jwt.sign(encoder.encode(secret));
}
