import { expect } from '@jest/globals';
import { PublishApiError, newTally, publishPatiently, publishTarget, type Publisher } from '../../../../clients/cli/publish';
import { UsageError } from '../../../../clients/cli/errors';
import type { PublishRequest } from '../../../../shared/protocol/types';

const STATUS = { id: '01JD0000000000000000000000', author: 'ada', text: 'hi', createdAt: '2026-11-28T01:00:00.000Z' };

describe('where updraft publish sends, and how it signs', () => {
  const chain = () => () => Promise.resolve({ accessKeyId: 'FROM-CHAIN', secretAccessKey: 'x' });

  it("finds the local stack's publish API from --url, and signs with its dev credentials", () => {
    const target = publishTarget({ stackUrl: 'http://127.0.0.1:4000' }, {}, chain);
    expect([target.url.href, target.credentials]).toEqual(['http://127.0.0.1:4000/publish', { accessKeyId: 'local', secretAccessKey: 'local' }]);
  });

  it("signs for a deployed API with the AWS credential chain, in the region its host names", () => {
    const target = publishTarget({ publishUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com', stackUrl: 'wss://x' }, {}, chain);
    expect([target.region, typeof target.credentials]).toEqual(['eu-west-1', 'function']);
  });

  it('takes UPDRAFT_PUBLISH_URL, and AWS_REGION for a custom domain', () => {
    const target = publishTarget({ stackUrl: 'wss://x' }, { UPDRAFT_PUBLISH_URL: 'https://publish.example.com', AWS_REGION: 'ap-south-1' }, chain);
    expect([target.url.origin, target.region]).toEqual(['https://publish.example.com', 'ap-south-1']);
    expect(() => publishTarget({ stackUrl: 'wss://x' }, { UPDRAFT_PUBLISH_URL: 'https://publish.example.com' }, chain)).toThrow(UsageError);
  });
});

describe('publishing within the budget', () => {
  it('waits out each 429 for as long as it says, then sends the same request again', async () => {
    const sent: PublishRequest[] = [];
    let refusals = 2;
    const api: Publisher = {
      publish: (request) => {
        sent.push(request);
        return refusals-- > 0 ? Promise.reject(new PublishApiError(429, 'rate_limited', 'slow down', 1500)) : Promise.resolve({ status: STATUS, duplicate: false });
      },
    };
    const waits: number[] = [];
    const tally = newTally();

    const published = await publishPatiently(api, { author: 'ada', text: 'hi', id: 'r1' }, tally, (ms) => { waits.push(ms); return Promise.resolve(); });

    expect(published.status).toEqual(STATUS);
    expect(waits).toEqual([1500, 1500]);
    expect(sent.map((request) => request.id)).toEqual(['r1', 'r1', 'r1']);
    expect([tally.rateLimited, tally.waitedMs]).toEqual([2, 3000]);
  });

  it('gives up on other refusals at once', async () => {
    const api: Publisher = { publish: () => Promise.reject(new PublishApiError(400, 'bad_request', 'no')) };
    await expect(publishPatiently(api, { author: 'ada', text: 'hi' }, newTally(), () => Promise.resolve())).rejects.toThrow('no');
  });
});
