import { SignJWT, jwtVerify } from 'jose';
import { Limits } from './protocol';

export class InvalidToken extends Error {
  override readonly name = 'InvalidToken';
}

const encoder = new TextEncoder();

/**
 * Verifies an HS256 JWT and returns its subject, the user id. Expiry is
 * required and enforced; so is a subject that is a valid user id.
 */
export async function verifyToken(token: string, secret: string): Promise<string> {
  try {
    const { payload } = await jwtVerify(token, encoder.encode(secret), {
      algorithms: ['HS256'],
      requiredClaims: ['sub', 'exp'],
    });
    if (typeof payload.sub !== 'string' || !Limits.userIdPattern.test(payload.sub)) throw new InvalidToken('sub is not a user id');
    return payload.sub;
  } catch (error) {
    if (error instanceof InvalidToken) throw error;
    throw new InvalidToken((error as Error).message);
  }
}

/** Signs a token for `userId`; used by the local stack's dev endpoint and by tests. */
export async function signToken(userId: string, secret: string, expiresIn: string | number = '12h'): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt().setExpirationTime(expiresIn).sign(encoder.encode(secret));
}
