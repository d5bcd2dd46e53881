import fc from 'fast-check';
import {
  ErrorCode,
  Limits,
  ProtocolError,
  codePoints,
  parseChannel,
  parseFrame,
  validateFeed,
  validateGet,
  validateHistory,
  validatePost,
  validatePresence,
  validateSubscribe,
  validateUnsubscribe,
  type Frame,
} from '../../../../shared/protocol';

const STATUS_ID = '01JD0000000000000000000000';
const frame = (fields: Record<string, unknown>): Frame => parseFrame(JSON.stringify(fields));

function rejection(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('expected a ProtocolError, but the call succeeded');
}

describe('parseFrame', () => {
  it.each([['not json'], ['[1,2]'], ['"text"'], ['null'], [''], ['{"id": 5}'], [JSON.stringify({ id: 'x'.repeat(65) })]])(
    'rejects %j with bad_request',
    (body) => {
      expect(rejection(() => parseFrame(body)).code).toBe(ErrorCode.BadRequest);
    },
  );

  it('keeps the request id and action', () => {
    const parsed = parseFrame('{"action":"ping","id":"r1"}');
    expect(parsed).toMatchObject({ id: 'r1', action: 'ping' });
  });
});

describe('validatePost', () => {
  it('trims the text and keeps a reply target', () => {
    expect(validatePost(frame({ text: '  hello  ', replyTo: STATUS_ID }))).toEqual({ text: 'hello', replyTo: STATUS_ID });
  });

  it('counts code points, not UTF-16 units', () => {
    const emoji = '😀'.repeat(Limits.textMaxCodePoints);
    expect(emoji.length).toBe(2 * Limits.textMaxCodePoints);
    expect(validatePost(frame({ text: emoji })).text).toBe(emoji);
    expect(rejection(() => validatePost(frame({ text: `${emoji}a` }))).code).toBe(ErrorCode.BadRequest);
  });

  it.each([[{}], [{ text: 5 }], [{ text: '   ' }], [{ text: '' }], [{ text: 'hi', replyTo: 'nope' }], [{ text: 'hi', replyTo: null }]])(
    'rejects %j',
    (fields) => {
      expect(rejection(() => validatePost(frame(fields))).code).toBe(ErrorCode.BadRequest);
    },
  );
});

describe('validateSubscribe', () => {
  it('accepts every channel kind and a since cursor for a listed channel', () => {
    const request = validateSubscribe(
      frame({ channels: ['user:alice', `thread:${STATUS_ID}`, 'inbox:bob', 'user:alice'], since: { 'user:alice': STATUS_ID } }),
    );
    expect(request).toEqual({ channels: ['user:alice', `thread:${STATUS_ID}`, 'inbox:bob'], since: { 'user:alice': STATUS_ID } });
  });

  it.each([
    [{}],
    [{ channels: [] }],
    [{ channels: 'user:alice' }],
    [{ channels: Array.from({ length: 51 }, (_, i) => `user:u${i}`) }],
    [{ channels: ['room:1'] }],
    [{ channels: ['user:bad id'] }],
    [{ channels: ['thread:abc'] }],
    [{ channels: [7] }],
    [{ channels: ['user:alice'], since: { 'user:bob': STATUS_ID } }],
    [{ channels: ['user:alice'], since: { 'user:alice': 'cursor' } }],
    [{ channels: ['user:alice'], since: ['x'] }],
  ])('rejects %j', (fields) => {
    expect(rejection(() => validateSubscribe(frame(fields))).code).toBe(ErrorCode.BadRequest);
  });

  it('applies the same channel rules to unsubscribe', () => {
    expect(validateUnsubscribe(frame({ channels: ['user:a'] }))).toEqual({ channels: ['user:a'] });
    expect(rejection(() => validateUnsubscribe(frame({ channels: ['nope'] }))).code).toBe(ErrorCode.BadRequest);
  });
});

describe('validateHistory', () => {
  it('defaults the limit to 20', () => {
    expect(validateHistory(frame({ channel: 'user:a' }))).toEqual({ channel: 'user:a', limit: 20 });
  });

  it('keeps one cursor', () => {
    expect(validateHistory(frame({ channel: 'user:a', after: STATUS_ID, limit: 100 }))).toEqual({
      channel: 'user:a',
      after: STATUS_ID,
      limit: 100,
    });
  });

  it.each([
    [{ channel: 'x' }],
    [{ channel: 'user:a', limit: 0 }],
    [{ channel: 'user:a', limit: 101 }],
    [{ channel: 'user:a', limit: 2.5 }],
    [{ channel: 'user:a', limit: '5' }],
    [{ channel: 'user:a', limit: null }],
    [{ channel: 'user:a', before: STATUS_ID, after: STATUS_ID }],
  ])('rejects %j', (fields) => {
    expect(rejection(() => validateHistory(frame(fields))).code).toBe(ErrorCode.BadRequest);
  });
});

describe('validateFeed', () => {
  it('defaults the limit to 20 and keeps a cursor', () => {
    expect(validateFeed(frame({}))).toEqual({ limit: 20 });
    expect(validateFeed(frame({ before: STATUS_ID, limit: 100 }))).toEqual({ before: STATUS_ID, limit: 100 });
  });

  it.each([[{ limit: 0 }], [{ limit: 101 }], [{ limit: null }], [{ before: 'now' }]])('rejects %j', (fields) => {
    expect(rejection(() => validateFeed(frame(fields))).code).toBe(ErrorCode.BadRequest);
  });
});

describe('validateGet', () => {
  it('keeps each id once, in the order first asked', () => {
    const other = '01JD0000000000000000000001';
    expect(validateGet(frame({ ids: [other, STATUS_ID, other] }))).toEqual({ ids: [other, STATUS_ID] });
  });

  it.each([[{}], [{ ids: [] }], [{ ids: STATUS_ID }], [{ ids: ['x'] }], [{ ids: Array.from({ length: Limits.getMaxIds + 1 }, () => STATUS_ID) }]])('rejects %j', (fields) => {
    expect(rejection(() => validateGet(frame(fields))).code).toBe(ErrorCode.BadRequest);
  });
});

describe('validators, for any input', () => {
  const anyFields = fc.dictionary(fc.constantFrom('text', 'replyTo', 'channels', 'since', 'channel', 'before', 'after', 'limit', 'ids', 'id'), fc.jsonValue());
  const validators = [validatePost, validateSubscribe, validateUnsubscribe, validateHistory, validateFeed, validateGet];

  it('either accept or throw bad_request, never anything else', () => {
    fc.assert(
      fc.property(anyFields, fc.constantFrom(...validators), (fields, validate) => {
        try {
          validate(parseFrame(JSON.stringify(fields)));
        } catch (error) {
          return error instanceof ProtocolError && error.code === ErrorCode.BadRequest;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('accept exactly the texts that hold 1 to 500 code points once trimmed', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 600 }), (text) => {
        const trimmed = text.trim();
        const valid = codePoints(trimmed) >= 1 && codePoints(trimmed) <= Limits.textMaxCodePoints;
        try {
          const accepted = validatePost(frame({ text }));
          return valid && accepted.text === trimmed;
        } catch (error) {
          return !valid && error instanceof ProtocolError;
        }
      }),
    );
  });

  it('answer bad_request, not internal from a stack overflow, for values nested thousands deep', () => {
    const depth = 50_000;
    const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;

    for (const body of [`{"channels":[${deep}]}`, `{"users":[${deep}]}`]) {
      const parsed = parseFrame(body);
      for (const validate of [validateSubscribe, validatePresence]) {
        expect(rejection(() => validate(parsed)).code).toBe(ErrorCode.BadRequest);
      }
    }
  });

  it('refuse a lone surrogate in text or id: frames and DynamoDB strings are UTF-8, which cannot hold one', () => {
    expect(rejection(() => validatePost(parseFrame('{"text":"a\\ud800b"}'))).code).toBe(ErrorCode.BadRequest);
    expect(rejection(() => parseFrame('{"id":"\\udc00"}')).code).toBe(ErrorCode.BadRequest);
    expect(validatePost(parseFrame('{"text":"\\ud83d\\ude00"}'))).toEqual({ text: '😀' });
  });

  it('accept only channels whose key matches its kind', () => {
    fc.assert(
      fc.property(fc.constantFrom('user', 'inbox', 'thread', 'room'), fc.string({ maxLength: 70 }), (kind, key) => {
        const parsed = parseChannel(`${kind}:${key}`);
        const pattern = kind === 'thread' ? Limits.statusIdPattern : kind === 'room' ? null : Limits.userIdPattern;
        return parsed === undefined ? !pattern?.test(key) : parsed.key === key && parsed.kind === kind;
      }),
    );
  });
});
