import { ago, AVATAR_TONES, avatarTone, initials, linkify } from '../../../../clients/web/src/format';

const NOW = Date.parse('2026-03-12T12:00:00Z');
const before = (ms: number) => new Date(NOW - ms).toISOString();

describe('ago', () => {
  it.each([
    ['0 s', 'now', 0],
    ['59 s', 'now', 59_000],
    ['a clock a little ahead', 'now', -5_000],
    ['60 s', '1 min', 60_000],
    ['2 min 59 s', '2 min', 179_000],
    ['59 min', '59 min', 59 * 60_000],
    ['1 h', '1 h', 3_600_000],
    ['23 h 59 min', '23 h', 86_399_000],
  ])('says %s as "%s"', (_case, shown, elapsed) => {
    expect(ago(before(elapsed), NOW)).toBe(shown);
  });

  it('gives a date from a day on, with the year only when it is another', () => {
    const lastWeek = ago(before(7 * 86_400_000), NOW);
    const lastYear = ago('2025-03-12T12:00:00Z', NOW);

    expect(lastWeek).not.toMatch(/now|min|h$/);
    expect(lastWeek).not.toContain('2026');
    expect(lastYear).toContain('2025');
  });
});

describe('initials', () => {
  it.each([
    ['alice', 'A'],
    ['e-alice', 'EA'],
    ['bob_smith', 'BS'],
    ['ann-marie-li', 'AL'],
    ['-x-', 'X'],
    ['9lives', '9'],
  ])('of %s is %s', (user, shown) => {
    expect(initials(user)).toBe(shown);
  });
});

describe('avatarTone', () => {
  it('is the same for the same id, within range, and spread over the tones', () => {
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);

    const tones = users.map(avatarTone);

    expect(users.map(avatarTone)).toEqual(tones);
    expect(tones.every((tone) => Number.isInteger(tone) && tone >= 0 && tone < AVATAR_TONES)).toBe(true);
    expect(new Set(tones).size).toBe(AVATAR_TONES);
  });
});

describe('linkify', () => {
  it('leaves text without links as one run', () => {
    expect(linkify('just words, no links')).toEqual([{ text: 'just words, no links' }]);
  });

  it('links http and https URLs, shown without the scheme, and keeps the text around them', () => {
    expect(linkify('see https://example.com/a?b=1#c and http://www.example.org.')).toEqual([
      { text: 'see ' },
      { text: 'example.com/a?b=1#c', href: 'https://example.com/a?b=1#c' },
      { text: ' and ' },
      { text: 'example.org', href: 'http://www.example.org/' },
      { text: '.' },
    ]);
  });

  it('leaves out trailing punctuation and a closing bracket the link did not open', () => {
    expect(linkify('(see https://example.com/x), or https://en.wikipedia.org/wiki/Foo_(bar)!')).toEqual([
      { text: '(see ' },
      { text: 'example.com/x', href: 'https://example.com/x' },
      { text: '), or ' },
      { text: 'en.wikipedia.org/wiki/Foo_(bar)', href: 'https://en.wikipedia.org/wiki/Foo_(bar)' },
      { text: '!' },
    ]);
  });

  it('never links another scheme', () => {
    for (const text of ['javascript:alert(1)', 'data:text/html,<b>x</b>', 'ftp://example.com/f', 'mailto:a@example.com', 'xhttps://example.com']) {
      expect(linkify(text).every((segment) => !('href' in segment))).toBe(true);
    }
  });

  it('cuts a long link short on screen but not in its address', () => {
    const url = `https://example.com/${'a'.repeat(80)}`;

    const [link] = linkify(url);

    expect(link).toEqual({ text: expect.stringMatching(/^example\.com\/a+…$/) as unknown, href: url });
    expect(link?.text).toHaveLength(48);
  });
});
