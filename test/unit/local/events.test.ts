import { gatewayId, requestTime } from '../../../local/events';

describe('API Gateway event fields', () => {
  it('writes requestTime in the CLF form API Gateway uses, in UTC', () => {
    expect(requestTime(Date.UTC(2026, 10, 21, 21, 2, 44))).toBe('21/Nov/2026:21:02:44 +0000');
    expect(requestTime(Date.UTC(2027, 0, 3, 4, 5, 6))).toBe('03/Jan/2027:04:05:06 +0000');
  });

  it('makes ids shaped like API Gateway’s, and never the same twice across refills of its random pool', () => {
    const ids = Array.from({ length: 2_000 }, gatewayId);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{15}=$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
