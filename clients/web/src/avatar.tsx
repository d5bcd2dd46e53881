import { avatarTone, initials } from './format';

/** Initials on a colour of the user's own, the same everywhere; decorative: the name is always next to it. */
export function Avatar({ user, size = 'medium' }: { user: string; size?: 'small' | 'medium' }) {
  return (
    <span className={`avatar ${size} tone-${avatarTone(user)}`} aria-hidden="true">
      {initials(user)}
    </span>
  );
}
