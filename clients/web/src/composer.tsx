import { useEffect, useId, useRef, useState, type KeyboardEvent, type SubmitEvent } from 'react';
import { UpdraftError } from '../../../shared/client';
import { ErrorCode } from '../../../shared/protocol/codes';
import { Limits } from '../../../shared/protocol/limits';
import { codePoints } from '../../../shared/protocol/validate';
import { messageOf } from './errors';

const MAX = Limits.textMaxCodePoints;
/**
 * How long a "posting too fast" message stays when the server does not say
 * how long to wait: version 1 servers give the wait only in the message's
 * words, which are not parsed. At the default rate (1 post a second once the
 * burst of 10 is spent) the wait is at most a second or two.
 */
export const RATE_LIMIT_SHOWN_MS = 3_000;
/** The shortest time a "posting too fast" message stays, so that it can be read even when the wait it names is almost over. */
export const RATE_LIMIT_MIN_SHOWN_MS = 1_500;

/** A text box that posts on Enter (Shift+Enter for a new line) and keeps the text if posting fails. */
export function Composer({
  label,
  submitLabel,
  onSubmit,
  focusRequest,
  hideLabel = false,
}: {
  label: string;
  /** The label is read out and shown as the box's placeholder, not above it. */
  hideLabel?: boolean;
  submitLabel: string;
  onSubmit: (text: string) => Promise<unknown>;
  /**
   * Takes the focus (and scrolls into view) when it appears, and again each
   * time this number changes: a reply box asked for from the feed, even when
   * it already answers that status.
   */
  focusRequest?: number;
}) {
  const id = useId();
  const box = useRef<HTMLTextAreaElement>(null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ readonly message: string; readonly clearAfterMs?: number }>();
  const length = codePoints(text.trim());

  useEffect(() => {
    if (focusRequest === undefined) return;
    box.current?.focus();
    box.current?.scrollIntoView({ block: 'nearest' });
  }, [focusRequest]);

  // A rate-limit message is true only for a while: it goes when its time has passed.
  useEffect(() => {
    if (error?.clearAfterMs === undefined) return;
    const timer = setTimeout(() => setError(undefined), error.clearAfterMs);
    return () => clearTimeout(timer);
  }, [error]);

  const submit = async (event?: SubmitEvent | KeyboardEvent) => {
    event?.preventDefault();
    if (length < 1 || length > MAX || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await onSubmit(text);
      setText('');
    } catch (failure) {
      const rateLimited = failure instanceof UpdraftError && failure.code === ErrorCode.RateLimited;
      // The app never chooses a post's request id: a clash is the client's, and sending again makes a new one.
      const conflict = failure instanceof UpdraftError && failure.code === ErrorCode.Conflict;
      const message = conflict ? 'Not posted: its request id was already taken by another status. Post again to send it.' : messageOf(failure);
      setError({ message, ...(rateLimited ? { clearAfterMs: Math.max(failure.retryAfterMs ?? RATE_LIMIT_SHOWN_MS, RATE_LIMIT_MIN_SHOWN_MS) } : {}) });
    } finally {
      setBusy(false);
    }
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Not while an input method is composing: there Enter picks a character.
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) void submit(event);
  };

  return (
    <form className="composer" onSubmit={(event) => void submit(event)}>
      <label htmlFor={id} className={hideLabel ? 'visually-hidden' : undefined}>
        {label}
      </label>
      <textarea
        id={id}
        ref={box}
        rows={2}
        placeholder={hideLabel ? label : undefined}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        aria-describedby={`${id}-count`}
      />
      <div className="composer-row">
        {/* Shown once there is text to count; read out with the box either way. */}
        <span id={`${id}-count`} className={length > MAX ? 'count over' : length === 0 ? 'count visually-hidden' : 'count'}>
          {length}/{MAX}
        </span>
        {error && (
          <span className="error" role="alert">
            {error.message}
          </span>
        )}
        <button type="submit" disabled={busy || length < 1 || length > MAX}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
