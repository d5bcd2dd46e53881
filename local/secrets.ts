import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { json, jsonObject, readBody, type HttpRoute } from './http';

/**
 * Secrets Manager, as much of it as the functions use: `GetSecretValue` for
 * the template's secrets, reached by the handlers' own SDK clients through
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` on the stack's port.
 */
export interface LocalSecret {
  readonly arn: string;
  /** The secret's logical id in the template, which is also its local name. */
  readonly id: string;
  readonly value: string;
}

export class LocalSecrets {
  readonly secrets: readonly LocalSecret[];

  /** `dataDir` keeps each value between runs, so tokens survive a restart; undefined makes fresh ones. */
  constructor(region: string, stackName: string, ids: readonly string[], dataDir: string | undefined) {
    this.secrets = ids.map((id) => ({ arn: secretArn(region, stackName, id), id, value: secretValue(dataDir, id) }));
  }

  /** What `Ref` to the secret resolves to. */
  static arn = (region: string, stackName: string, id: string) => secretArn(region, stackName, id);

  /** The `x-amz-target: secretsmanager.*` JSON API. */
  readonly route: HttpRoute = async (req, res) => {
    const target = req.headers['x-amz-target'];
    if (req.method !== 'POST' || typeof target !== 'string' || !target.startsWith('secretsmanager.')) return false;
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    const { body } = await readBody(req, 64 * 1024);
    let secretId: unknown;
    try {
      secretId = jsonObject(body)['SecretId'];
    } catch {
      json(res, 400, { __type: 'SerializationException', message: 'the request body is not JSON' }, headers);
      return true;
    }
    const secret = this.secrets.find((s) => secretId === s.arn || secretId === s.id);
    if (target !== 'secretsmanager.GetSecretValue') {
      json(res, 400, { __type: 'UnsupportedOperation', message: `${target} is not emulated locally` }, headers);
    } else if (!secret) {
      json(res, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }, headers);
    } else {
      json(res, 200, { ARN: secret.arn, Name: secret.id, SecretString: secret.value, VersionId: 'local', VersionStages: ['AWSCURRENT'], CreatedDate: 0 }, headers);
    }
    return true;
  };
}

const secretArn = (region: string, stack: string, id: string) => `arn:aws:secretsmanager:${region}:000000000000:secret:${stack}-${id}`;

/** The JWT secret: kept with the data so tokens survive a restart; fresh for an in-memory run. */
function secretValue(dataDir: string | undefined, id: string): string {
  const generate = () => randomBytes(48).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 64);
  if (!dataDir) return generate();
  const file = path.join(dataDir, `${id}.secret`);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const value = generate();
  writeFileSync(file, value, { mode: 0o600 });
  return value;
}
