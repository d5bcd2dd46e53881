import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccountRecovery, FeaturePlan, Mfa, UserPool, UserPoolClient } from 'aws-cdk-lib/aws-cognito';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { EnvVar } from '../../shared/config';
import type { UpdraftFunction } from './updraft-function';

export type AuthMode = 'hs256' | 'jwks';

export interface IdentityProps {
  /** Keep user accounts (the user pool) on `cdk destroy`, with deletion protection. */
  readonly keepData: boolean;
  /**
   * `hs256`: tokens signed with a secret the stack keeps in Secrets Manager.
   * `jwks`: tokens from an OIDC issuer (or Cognito), checked against its JWKS.
   * @default 'hs256', or 'jwks' when a Cognito option is given
   */
  readonly mode?: AuthMode;
  /** jwks: the issuer's key set, e.g. `https://issuer/.well-known/jwks.json`. */
  readonly jwksUrl?: string;
  /** jwks: the exact `iss` of its tokens. */
  readonly issuer?: string;
  /**
   * The accepted audiences: the `aud` of OIDC tokens, or the app client ids of
   * a Cognito pool. Required in jwks mode (except with `createUserPool`);
   * optional in hs256 mode.
   */
  readonly audience?: readonly string[];
  /** An existing Cognito user pool, e.g. `eu-west-1_AbCdEf123`: the JWKS URL and issuer follow from it. */
  readonly cognitoUserPoolId?: string;
  /** Create a Cognito user pool and an app client for Updraft, and take their access tokens. @default false */
  readonly createUserPool?: boolean;
}

/**
 * Who may connect: the authorizer's key material and rules, in one of two
 * modes, and the environment variables that tell lambdas/authorizer.ts which.
 *
 * Cognito: Updraft takes **access tokens**, the tokens Cognito issues for
 * calling APIs. They carry no `aud`; their app client is in `client_id`, so
 * that is the claim checked against the audience, together with
 * `token_use=access` (an ID token of the same client is refused).
 */
export class Identity extends Construct {
  readonly mode: AuthMode;
  readonly secret?: Secret;
  readonly userPool?: UserPool;
  readonly userPoolClient?: UserPoolClient;
  private readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    const cognito = props.cognitoUserPoolId !== undefined || props.createUserPool === true;
    this.mode = props.mode ?? (cognito ? 'jwks' : 'hs256');
    const audience = [...(props.audience ?? [])];
    if (this.mode === 'hs256' && cognito) throw new Error('authMode hs256 cannot be combined with a Cognito user pool; use authMode jwks');
    if (props.cognitoUserPoolId !== undefined && props.createUserPool) throw new Error('give cognitoUserPoolId or createUserPool, not both');

    if (this.mode === 'hs256') {
      // In the stack's scope, so its logical id (and so the key, and every token signed with it) survives this refactor.
      this.secret = new Secret(scope, 'JwtSecret', {
        description: 'HS256 key that signs Updraft access tokens',
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      NagSuppressions.addResourceSuppressions(this.secret, [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'The HS256 key signs every live token: rotating it needs a rotation function that also keeps the previous key valid until ' +
            'tokens signed with it expire, which the hs256 mode (development, tests) does not have. Production uses jwks mode, ' +
            'where the issuer rotates its own keys. README "Operations" describes rotating it by hand.',
        },
      ]);
      this.environment = { [EnvVar.authMode]: 'hs256', ...(audience.length > 0 ? { [EnvVar.jwtAudience]: audience.join(',') } : {}) };
      new CfnOutput(scope, 'JwtSecretArn', { value: this.secret.secretArn, description: 'HS256 signing key for access tokens' });
      return;
    }

    if (props.createUserPool) {
      this.userPool = new UserPool(this, 'UserPool', {
        selfSignUpEnabled: false,
        signInAliases: { username: true, email: true },
        passwordPolicy: { minLength: 12, requireLowercase: true, requireUppercase: true, requireDigits: true, requireSymbols: true },
        mfa: Mfa.REQUIRED,
        mfaSecondFactor: { otp: true, sms: false },
        accountRecovery: AccountRecovery.EMAIL_ONLY,
        featurePlan: FeaturePlan.ESSENTIALS,
        deletionProtection: props.keepData,
        removalPolicy: props.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      });
      NagSuppressions.addResourceSuppressions(this.userPool, [
        {
          id: 'AwsSolutions-COG8',
          reason:
            'The Plus feature plan (threat protection) is billed per monthly active user; the pool Updraft creates is a starting point ' +
            'on Essentials, and the deploying team chooses Plus for production (UserPool featurePlan) knowing its price.',
        },
      ]);
      this.userPoolClient = this.userPool.addClient('UpdraftClient', {
        authFlows: { userSrp: true },
        generateSecret: false,
        accessTokenValidity: Duration.hours(1),
        preventUserExistenceErrors: true,
      });
      audience.push(this.userPoolClient.userPoolClientId);
      new CfnOutput(scope, 'UserPoolId', { value: this.userPool.userPoolId, description: 'Cognito user pool whose access tokens Updraft takes' });
      new CfnOutput(scope, 'UserPoolClientId', { value: this.userPoolClient.userPoolClientId, description: 'App client to sign in with' });
    }

    const poolId = this.userPool?.userPoolId ?? props.cognitoUserPoolId;
    let jwksUrl = props.jwksUrl;
    let issuer = props.issuer;
    if (poolId !== undefined) {
      // Pool ids start with their region (`eu-west-1_AbC`); a pool created here lives in the stack's region.
      const region = props.cognitoUserPoolId?.split('_')[0] ?? Stack.of(this).region;
      issuer = `https://cognito-idp.${region}.amazonaws.com/${poolId}`;
      jwksUrl = `${issuer}/.well-known/jwks.json`;
    }
    if (!jwksUrl || !issuer) throw new Error('authMode jwks needs jwksUrl and jwtIssuer, or cognitoUserPoolId, or createUserPool=true');
    if (audience.length === 0) throw new Error('authMode jwks needs jwtAudience (the app client id for a Cognito pool)');
    this.environment = {
      [EnvVar.authMode]: 'jwks',
      [EnvVar.jwksUrl]: jwksUrl,
      [EnvVar.jwtIssuer]: issuer,
      [EnvVar.jwtAudience]: audience.join(','),
      ...(poolId !== undefined ? { [EnvVar.jwtAudienceClaim]: 'client_id', [EnvVar.jwtTokenUse]: 'access' } : {}),
    };
  }

  /** Gives the authorizer what its mode needs: the secret's ARN and read access, or the issuer's settings. */
  bind(fn: UpdraftFunction): void {
    if (this.secret) fn.bindSecret(this.secret);
    for (const [name, value] of Object.entries(this.environment)) fn.addEnvironment(name, value);
  }
}
