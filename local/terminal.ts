import type { RequestSummary } from './gateway';
import type { BatchSummary } from './stack';

/**
 * What the local stack prints. By default one line per request and per
 * batch of a stream or a queue, and the functions' warnings and errors; `--verbose` adds
 * everything the functions print (their JSON logs and EMF metric lines),
 * as CloudWatch Logs would hold it.
 */
export interface TerminalOptions {
  readonly verbose: boolean;
  readonly write?: (line: string) => void;
  /** The wall clock, for the time at the start of each request line. */
  readonly now?: () => Date;
}

/** Levels a function's JSON log line carries (Powertools Logger's, and the Lambda runtime's) that always show. */
const LOUD_LEVELS = new Set(['WARN', 'WARNING', 'ERROR', 'CRITICAL', 'FATAL']);

export class Terminal {
  private readonly write: (line: string) => void;
  private readonly now: () => Date;

  constructor(private readonly options: TerminalOptions) {
    this.write = options.write ?? ((line) => console.log(line));
    this.now = options.now ?? (() => new Date());
  }

  get verbose(): boolean {
    return this.options.verbose;
  }

  /** A message from the local stack itself. */
  readonly log = (line: string): void => this.write(line);

  /** One line a function printed (`functionId` is its logical id). */
  readonly functionOutput = (functionId: string, line: string): void => {
    if (this.options.verbose || isLoud(line)) this.write(`[${functionId}] ${line}`);
  };

  /** `12:01:02  alice       post            posted               14 ms` */
  readonly request = (request: RequestSummary): void => {
    this.row(request.user ?? '-', request.routeKey, request.outcome, request.durationMs);
  };

  /** `12:01:02  stream  FanOut4A9AB6BC  3 records  9 ms`, `12:01:02  queue  Deliver6E3B1A0C  10 messages (2 failed)  40 ms` */
  readonly batch = ({ source, functionId, size, failed, durationMs }: BatchSummary): void => {
    const unit = source === 'stream' ? 'record' : 'message';
    const outcome = failed === 0 ? '' : source === 'stream' ? ' (failed)' : ` (${failed} failed)`;
    this.row(source, functionId, `${size} ${unit}${size === 1 ? '' : 's'}${outcome}`, durationMs);
  };

  private row(who: string, what: string, outcome: string, durationMs: number): void {
    const time = this.now().toTimeString().slice(0, 8);
    this.write(`${time}  ${who.padEnd(11)} ${what.padEnd(15)} ${outcome.padEnd(20)} ${String(durationMs).padStart(5)} ms`);
  }
}

/**
 * Whether a function's line shows without --verbose: warnings and errors in
 * JSON (`"level":"ERROR"`), and any line that is not JSON (a `console.log`,
 * a crash), which a handler prints rarely and means to be seen. Metric lines
 * (`{"_aws":…}`) and JSON lines at INFO or DEBUG do not.
 */
export function isLoud(line: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return true;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return true;
  if ('_aws' in value) return false;
  const level = 'level' in value && typeof value.level === 'string' ? value.level.toUpperCase() : undefined;
  return level === undefined || LOUD_LEVELS.has(level);
}

/**
 * Startup phases, each printed as it ends with the time it took, and the
 * total since the process started (Node and tsx loading included), which is
 * what the person who typed `npm start` waited.
 */
export class PhaseClock {
  private last: number;

  constructor(
    private readonly write: (line: string) => void,
    /** Milliseconds since the process started; `performance.now()` in the stack, a fake in tests. */
    private readonly elapsed: () => number = () => performance.now(),
  ) {
    this.last = 0;
  }

  /** Ends the phase that started at the previous mark (or at process start), and prints it. */
  mark(phase: string, detail = ''): void {
    const now = this.elapsed();
    this.write(`  ${phase.padEnd(16)} ${seconds(now - this.last).padStart(7)}${detail ? `  ${detail}` : ''}`);
    this.last = now;
  }

  /** The total since the process started. */
  total(): string {
    return seconds(this.elapsed());
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
