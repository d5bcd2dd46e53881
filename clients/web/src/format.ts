/**
 * How statuses read on screen: relative times, initials avatars, links in
 * text. Pure functions, with no DOM, so unit tests run them as they are.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "now" under a minute, "2 min", "3 h", then a date ("Mar 12"; with the year when it is not this one). */
export function ago(iso: string, now: number): string {
  const at = Date.parse(iso);
  // A status from a clock a little ahead of this one is "now", not "-1 min".
  const elapsed = Math.max(0, now - at);
  if (elapsed < MINUTE) return 'now';
  if (elapsed < HOUR) return `${Math.floor(elapsed / MINUTE)} min`;
  if (elapsed < DAY) return `${Math.floor(elapsed / HOUR)} h`;
  const date = new Date(at);
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleDateString(undefined, sameYear ? { month: 'short', day: 'numeric' } : { year: 'numeric', month: 'short', day: 'numeric' });
}

/** The date and time in full, for a tooltip and for screen readers. */
export const fullTime = (iso: string): string => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/**
 * Up to two letters for an avatar: the first letters of the first and last
 * words of the id ("e-alice" is "EA", "bob_smith" "BS"), or its first letter.
 */
export function initials(user: string): string {
  const words = user.split(/[-_.]+/).filter((word) => word !== '');
  const first = words[0] ?? user;
  const last = words.length > 1 ? words[words.length - 1] : undefined;
  return `${first.charAt(0)}${last?.charAt(0) ?? ''}`.toUpperCase();
}

/** Avatar colours: classes `.tone-0` to `.tone-11` in styles.css (a class, not an inline style, under the app's CSP). */
export const AVATAR_TONES = 12;

/** The same colour for a user everywhere and always: FNV-1a over the id's UTF-16 units. */
export function avatarTone(user: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < user.length; i++) {
    hash ^= user.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % AVATAR_TONES;
}

/** A run of a status's text: plain, or a link. */
export type Segment = { readonly text: string } | { readonly text: string; readonly href: string };

/** Candidates: `http://` or `https://` and everything up to white space or a character URLs do not hold bare. */
const CANDIDATE = /\bhttps?:\/\/[^\s<>"'`{}|\\^]+/gi;
/** Punctuation that ends a sentence rather than the link it follows. */
const TRAILING = /[.,;:!?*'"]+$/;
/** Links are shown without their scheme, cut to this many characters; the link itself is whole. */
const SHOWN_CHARS = 48;

/**
 * Splits text into plain runs and http(s) links. A link's trailing
 * punctuation stays text, and so does a closing bracket it did not open
 * ("(see https://example.com)"). Anything `URL` cannot parse, or whose scheme
 * is not http or https, stays text: no other scheme ever becomes a link.
 */
export function linkify(text: string): Segment[] {
  const segments: Segment[] = [];
  let from = 0;
  for (const match of text.matchAll(CANDIDATE)) {
    const url = trimUrl(match[0]);
    const href = safeHref(url);
    if (href === undefined) continue;
    if (match.index > from) segments.push({ text: text.slice(from, match.index) });
    segments.push({ text: shorten(url), href });
    from = match.index + url.length;
  }
  if (from < text.length) segments.push({ text: text.slice(from) });
  return segments;
}

function trimUrl(candidate: string): string {
  let url = candidate.replace(TRAILING, '');
  for (const [open, close] of [
    ['(', ')'],
    ['[', ']'],
  ] as const) {
    while (url.endsWith(close) && count(url, close) > count(url, open)) url = url.slice(0, -1).replace(TRAILING, '');
  }
  return url;
}

const count = (text: string, char: string) => text.split(char).length - 1;

function safeHref(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

function shorten(url: string): string {
  const bare = url.replace(/^https?:\/\//i, '').replace(/^www\./i, '');
  return bare.length > SHOWN_CHARS ? `${bare.slice(0, SHOWN_CHARS - 1)}…` : bare;
}
