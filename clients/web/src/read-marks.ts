/**
 * The newest notification a user has marked read, kept per user in this
 * browser (localStorage), so the unread count survives signing out and in,
 * and a reload. Another browser has marks of its own.
 */
const key = (user: string) => `updraft.readUpTo.${user}`;

export function loadReadMark(user: string): string | undefined {
  try {
    const mark = localStorage.getItem(key(user));
    // A notification id is a cursor (a ULID for replies): anything else is not ours, and is ignored.
    return mark !== null && mark.length > 0 && mark.length <= 64 ? mark : undefined;
  } catch {
    return undefined; // storage refused (private mode, a sandboxed frame): the count starts afresh
  }
}

export function saveReadMark(user: string, id: string): void {
  try {
    localStorage.setItem(key(user), id);
  } catch {
    // Storage refused: the mark holds for this visit only.
  }
}
