import type { Notification, Status } from '../../shared/protocol/types';

export interface Output {
  /** One JSON object per line, for scripts. */
  readonly json: boolean;
  /** A status; `replies`, when known, is how many its thread holds. */
  status(channel: string, status: Status, replies?: number): void;
  notification(notification: Notification): void;
  /** A command's result: one JSON object (with `type`) for scripts, or a line of text for people. */
  value(frame: { readonly type: string } & Record<string, unknown>, text: string): void;
  info(text: string): void;
}

export function output(json: boolean, write: (line: string) => void): Output {
  if (json) {
    return {
      json,
      status: (channel, status) => { write(JSON.stringify({ type: 'status', channel, status })); },
      notification: (notification) => { write(JSON.stringify({ type: 'notification', notification })); },
      value: (frame) => { write(JSON.stringify(frame)); },
      // Progress and messages as objects too, so that every line of --json output parses.
      info: (message) => { write(JSON.stringify({ type: 'info', message })); },
    };
  }
  const time = (iso: string) => new Date(iso).toLocaleTimeString();
  return {
    json,
    status: (channel, s, replies) => {
      const reply = s.replyTo === undefined ? '' : ` ↩ ${s.replyTo.slice(-6)}`;
      const where = channel.startsWith('thread:') ? ` in ${channel}` : '';
      const thread = replies === undefined ? '' : `  (${replies === 1 ? '1 reply' : `${replies} replies`})`;
      write(`${time(s.createdAt)}  ${s.author}${reply}: ${s.text}${thread}   [${s.id}${where}]`);
    },
    notification: (n) => {
      const what = n.kind === 'follow' ? `${n.from} followed you` : `${n.from} replied: ${n.status?.text ?? ''}   [${n.status?.id ?? n.id}]`;
      write(`${time(n.at)}  ★ ${what}`);
    },
    value: (_frame, text) => { write(text); },
    info: (text) => { write(text); },
  };
}
