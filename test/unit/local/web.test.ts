import { responseHeaders } from '../../../local/web';
import type { Json } from '../../../local/template';

/** The local stack serves the browser app with the headers of the template's response headers policy, as CloudFront writes them. */
const asText = (value: Json) => (typeof value === 'string' ? value : `<${JSON.stringify(value)}>`);

describe('responseHeaders', () => {
  it('writes each security header of the policy as CloudFront does, resolving the CSP through the stack', () => {
    const config: Record<string, Json> = {
      Name: 'WebAppHeaders',
      Comment: 'security headers',
      SecurityHeadersConfig: {
        ContentSecurityPolicy: { ContentSecurityPolicy: { 'Fn::Join': ['', ["connect-src 'self' ", { Ref: 'Api' }]] }, Override: true },
        StrictTransportSecurity: { AccessControlMaxAgeSec: 63072000, IncludeSubdomains: true, Override: true },
        ContentTypeOptions: { Override: true },
        ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
        FrameOptions: { FrameOption: 'DENY', Override: true },
      },
      CustomHeadersConfig: { Items: [{ Header: 'Cross-Origin-Opener-Policy', Value: 'same-origin', Override: true }] },
    };

    const headers = responseHeaders(config, (value) => (typeof value === 'object' && value !== null ? "connect-src 'self' ws://127.0.0.1:3000/dev" : String(value)));

    expect(headers).toEqual({
      'content-security-policy': "connect-src 'self' ws://127.0.0.1:3000/dev",
      'strict-transport-security': 'max-age=63072000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'cross-origin-opener-policy': 'same-origin',
    });
  });

  it('refuses a part of a policy it does not emulate, rather than serve the app with less', () => {
    expect(() => responseHeaders({ CorsConfig: { OriginOverride: true } }, asText)).toThrow(/does not emulate CorsConfig/);
    expect(() => responseHeaders({ SecurityHeadersConfig: { PermissionsPolicy: {} } }, asText)).toThrow(/does not emulate PermissionsPolicy/);
    expect(() => responseHeaders({ SecurityHeadersConfig: { FrameOptions: { Override: true } } }, asText)).toThrow(/FrameOptions .* has no FrameOption/);
  });
});
