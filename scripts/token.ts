/**
 * Signs an access token for a deployed stack: `npm run token -- <userId>`.
 * The signing key is the stack's JwtSecret, passed in UPDRAFT_JWT_SECRET:
 *
 *   export UPDRAFT_JWT_SECRET=$(aws secretsmanager get-secret-value \
 *     --secret-id <JwtSecretArn output> --query SecretString --output text)
 *   npm run token -- alice
 *
 * When the stack enforces an audience (`-c jwtAudience=...` in hs256 mode),
 * set UPDRAFT_JWT_AUDIENCE to it and the token carries it as `aud`.
 *
 * Locally, use GET /dev/token?user=<id> instead. In jwks mode, tokens come
 * from your identity provider, not from this script.
 */
import { signToken } from '../shared/auth';
import { Limits } from '../shared/protocol';

const [user, expiresIn = '12h'] = process.argv.slice(2);
const secret = process.env['UPDRAFT_JWT_SECRET'];
if (!user || !Limits.userIdPattern.test(user)) {
  console.error('usage: npm run token -- <userId> [expiry, e.g. 12h]   (user ids match ^[A-Za-z0-9_-]{1,64}$)');
  process.exit(2);
}
if (!secret) {
  console.error('set UPDRAFT_JWT_SECRET to the value of the stack\'s JwtSecret (see the comment at the top of scripts/token.ts)');
  process.exit(2);
}
const audience = process.env['UPDRAFT_JWT_AUDIENCE'];
signToken(user, secret, expiresIn, audience ? { audience } : {}).then(
  (token) => {
    console.log(token);
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
