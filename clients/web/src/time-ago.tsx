import { useClock } from './clock';
import { ago, fullTime } from './format';

/** "now", "2 min", "3 h", then a date; it moves on by itself (see clock.ts). A link when given one: a status's time is its address. */
export function TimeAgo({ iso, href }: { iso: string; href?: string }) {
  const now = useClock();
  const time = (
    <time dateTime={iso} title={fullTime(iso)}>
      {ago(iso, now)}
    </time>
  );
  return href === undefined ? time : (
    <a className="time-link" href={href}>
      {time}
    </a>
  );
}
