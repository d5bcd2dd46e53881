import { useId, useState, type FormEvent, type KeyboardEvent } from 'react';

const MAX = 500;

/** A text box that posts on Enter (Shift+Enter for a new line) and keeps the text if posting fails. */
export function Composer({
  label,
  submitLabel,
  onSubmit,
  autoFocus = false,
}: {
  label: string;
  submitLabel: string;
  onSubmit: (text: string) => Promise<unknown>;
  /** Takes the focus (and scrolls into view) when it appears: a reply box opened from the feed. */
  autoFocus?: boolean;
}) {
  const id = useId();
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const length = [...text.trim()].length;

  const submit = async (event?: FormEvent) => {
    event?.preventDefault();
    if (length < 1 || length > MAX || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await onSubmit(text);
      setText('');
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Not while an input method is composing: there Enter picks a character.
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) void submit(event);
  };

  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor={id}>{label}</label>
      <textarea id={id} rows={2} autoFocus={autoFocus} value={text} onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} aria-describedby={`${id}-count`} />
      <div className="composer-row">
        <span id={`${id}-count`} className={length > MAX ? 'count over' : 'count'}>
          {length}/{MAX}
        </span>
        {error && (
          <span className="error" role="alert">
            {error}
          </span>
        )}
        <button type="submit" disabled={busy || length < 1 || length > MAX}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
