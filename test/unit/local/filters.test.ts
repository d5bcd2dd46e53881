import { matchesAny } from '../../../local/filters';

const record = (channel: string, eventName = 'INSERT') => ({ eventName, dynamodb: { Keys: { channel: { S: channel } }, NewImage: { n: { N: '5' } } } });

describe('event filtering', () => {
  const updraft = [{ eventName: ['INSERT'], dynamodb: { Keys: { channel: { S: [{ prefix: 'user:' }, { prefix: 'thread:' }, { prefix: 'inbox:' }] } } } }];

  it.each([
    ['user:alice', 'INSERT', true],
    ['inbox:bob', 'INSERT', true],
    ['thread:01JD', 'INSERT', true],
    ['status:01JD', 'INSERT', false],
    ['user:alice', 'MODIFY', false],
    ['user:alice', 'REMOVE', false],
  ])("keeps %s %s: %s, as the stack's filter says", (channel, eventName, kept) => {
    expect(matchesAny(record(channel, eventName), updraft)).toBe(kept);
  });

  it('keeps every record when there is no filter, and any record one of several filters matches', () => {
    expect(matchesAny(record('x'), [])).toBe(true);
    expect(matchesAny(record('x', 'REMOVE'), [{ eventName: ['INSERT'] }, { eventName: ['REMOVE'] }])).toBe(true);
  });

  it('supports anything-but, exists and numeric', () => {
    expect(matchesAny(record('a'), [{ eventName: [{ 'anything-but': ['REMOVE'] }] }])).toBe(true);
    expect(matchesAny(record('a', 'REMOVE'), [{ eventName: [{ 'anything-but': ['REMOVE'] }] }])).toBe(false);
    expect(matchesAny(record('a'), [{ dynamodb: { OldImage: [{ exists: false }] } }])).toBe(true);
    expect(matchesAny(record('a'), [{ dynamodb: { NewImage: [{ exists: true }] } }])).toBe(true);
    expect(matchesAny({ size: 5 }, [{ size: [{ numeric: ['>', 1, '<=', 5] }] }])).toBe(true);
    expect(matchesAny({ size: 6 }, [{ size: [{ numeric: ['>', 1, '<=', 5] }] }])).toBe(false);
  });
});
