import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { LocalPublishPrincipals } from '../../shared/publish-api';

/** What a request to the publish API got back. */
export interface Answer {
  readonly method: string;
  /** The path asked for, below the API's base URL, without the query string. */
  readonly path: string;
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

export interface CallOptions {
  readonly body?: string;
  readonly query?: Record<string, string>;
  /** Which of the local principals signs; `false` sends the request unsigned. @default the dev credentials (publish policy only) */
  readonly signAs?: { readonly accessKeyId: string; readonly secretAccessKey: string } | false;
  readonly headers?: Record<string, string>;
}

/**
 * Calls the local publish API as a backend would: signed with the AWS SDK's SigV4 signer
 * (@smithy/signature-v4, the one every SDK client uses), over fetch.
 */
export async function callPublishApi(baseUrl: string, method: 'GET' | 'POST', apiPath: string, options: CallOptions = {}): Promise<Answer> {
  const base = new URL(baseUrl);
  const url = new URL(`${base.pathname}${apiPath}`, base);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  let headers: Record<string, string> = { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers };
  const signer = options.signAs ?? LocalPublishPrincipals[0];
  if (signer !== false) {
    const signature = new SignatureV4({
      service: 'execute-api',
      region: 'us-east-1',
      credentials: { accessKeyId: signer.accessKeyId, secretAccessKey: signer.secretAccessKey },
      sha256: Sha256,
    });
    const signed = await signature.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { host: url.host, ...headers },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    // fetch sets Host itself, to the same value.
    headers = Object.fromEntries(Object.entries(signed.headers).filter(([name]) => name.toLowerCase() !== 'host'));
  }
  const response = await fetch(url, { method, headers, ...(options.body === undefined ? {} : { body: options.body }) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text, which the OpenAPI check refuses
  }
  return { method, path: url.pathname.slice(base.pathname.length), status: response.status, headers: response.headers, body };
}

/** docs/publish-api.openapi.json, and a check of an answer against the schema it gives for that operation and status. */
export class OpenApiDocument {
  readonly document: OpenApi;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  private static readonly ID = 'https://updraft.invalid/publish-api.openapi.json';

  constructor(file = path.resolve(__dirname, '..', '..', 'docs', 'publish-api.openapi.json')) {
    this.document = JSON.parse(readFileSync(file, 'utf8')) as OpenApi;
    // OpenAPI 3.1's schemas are JSON Schema 2020-12. The document itself is added as one schema, so
    // that each operation's schema is reached by a JSON pointer and its $refs resolve within it;
    // the OpenAPI keywords around the schemas are not JSON Schema's, hence strict: false.
    // Formats are annotations here (2020-12's default): a timestamp's shape is checked by its pattern.
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    this.ajv.addSchema({ ...this.document, $id: OpenApiDocument.ID });
  }

  /** The documented path template (`/statuses/{id}`) an actual path matches. */
  template(actual: string): string | undefined {
    const segments = actual.split('/');
    return Object.keys(this.document.paths).find((template) => {
      const expected = template.split('/');
      return expected.length === segments.length && expected.every((part, i) => /^\{.+\}$/.test(part) || part === segments[i]);
    });
  }

  /** The reasons `answer` does not match the document; none when it does. */
  problems(answer: Answer): string[] {
    const template = this.template(answer.path);
    if (template === undefined) return [`${answer.path} is not a documented path`];
    const operation = this.document.paths[template]?.[answer.method.toLowerCase()];
    if (operation === undefined) return [`${answer.method} ${template} is not documented`];
    if (operation.responses[String(answer.status)] === undefined) return [`${answer.method} ${template} does not document HTTP ${answer.status}`];
    if (answer.headers.get('content-type')?.startsWith('application/json') !== true) return [`HTTP ${answer.status} is not application/json`];
    // A response is given in place, or is a $ref to components/responses: its schema is under its content either way.
    const given = operation.responses[String(answer.status)];
    const responsePointer = given?.$ref ?? `#/${['paths', template, answer.method.toLowerCase(), 'responses', String(answer.status)].map(escapePointer).join('/')}`;
    const validate = this.validator(`${responsePointer}/content/application~1json/schema`);
    return validate(answer.body) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath || '(body)'} ${error.message ?? ''} ${JSON.stringify(error.params)}`);
  }

  private validator(pointer: string): ValidateFunction {
    const ref = `${OpenApiDocument.ID}${pointer}`;
    let validate = this.validators.get(ref);
    if (!validate) {
      validate = this.ajv.compile({ $ref: ref });
      this.validators.set(ref, validate);
    }
    return validate;
  }
}

const escapePointer = (part: string) => part.replace(/~/g, '~0').replace(/\//g, '~1');

interface OpenApiResponse {
  readonly $ref?: string;
}

interface OpenApi {
  readonly paths: Readonly<Record<string, Readonly<Record<string, { readonly responses: Readonly<Record<string, OpenApiResponse>> }>>>>;
}
