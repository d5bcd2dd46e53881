import { PhaseClock, Terminal, isLoud } from '../../../local/terminal';

/** What the local stack prints: one line per request by default, the functions' own lines only when they matter. */
const emf = '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Updraft","Dimensions":[["service"]],"Metrics":[{"Name":"Posts","Unit":"Count"}]}]},"Posts":1}';
const info = '{"level":"INFO","message":"fan-out batch","service":"updraft","records":1}';
const error = '{"level":"ERROR","message":"post failed","service":"updraft"}';
const warning = '{"level":"WARN","message":"slow","service":"updraft"}';

describe('isLoud', () => {
  it.each([
    ['an EMF metric line', emf, false],
    ['a JSON log line at INFO', info, false],
    ['a JSON log line at DEBUG', '{"level":"DEBUG","message":"x"}', false],
    ['a JSON log line at ERROR', error, true],
    ['a JSON log line at WARN', warning, true],
    ['a plain line (console.log, a crash)', 'TypeError: x is not a function', true],
    ['JSON that is not a log record', '[1,2]', true],
  ])('%s: %s', (_, line, loud) => {
    expect(isLoud(line)).toBe(loud);
  });
});

describe('Terminal', () => {
  const printed = (verbose: boolean) => {
    const lines: string[] = [];
    const terminal = new Terminal({ verbose, write: (line) => lines.push(line), now: () => new Date(2026, 10, 27, 12, 1, 2) });
    for (const line of [emf, info, error]) terminal.functionOutput('Post0F9B6667', line);
    terminal.request({ user: 'alice', routeKey: 'post', outcome: 'posted', durationMs: 14, failed: false });
    terminal.batch({ source: 'stream', functionId: 'FanOut4A9AB6BC', size: 3, failed: 0, durationMs: 9 });
    terminal.batch({ source: 'queue', functionId: 'Deliver6E3B1A0C', size: 10, failed: 2, durationMs: 40 });
    return lines;
  };

  it('prints one line per request and batch, and only the loud lines of functions', () => {
    expect(printed(false)).toEqual([
      `[Post0F9B6667] ${error}`,
      expect.stringMatching(/^12:01:02 +alice +post +posted +14 ms$/),
      expect.stringMatching(/^12:01:02 +stream +FanOut4A9AB6BC +3 records +9 ms$/),
      expect.stringMatching(/^12:01:02 +queue +Deliver6E3B1A0C +10 messages \(2 failed\) +40 ms$/),
    ]);
  });

  it('prints every line a function printed when verbose', () => {
    expect(printed(true).slice(0, 3)).toEqual([`[Post0F9B6667] ${emf}`, `[Post0F9B6667] ${info}`, `[Post0F9B6667] ${error}`]);
  });
});

describe('PhaseClock', () => {
  it('prints each phase with the time since the one before, and the total since the process started', () => {
    const lines: string[] = [];
    const times = [400, 12_400, 12_450];
    const clock = new PhaseClock((line) => lines.push(line), () => times.shift() ?? 13_000);

    clock.mark('node and tsx');
    clock.mark('synth', 'cdk.out (the source changed)');
    clock.mark('tables');

    expect(lines).toEqual([
      expect.stringMatching(/^ {2}node and tsx +0\.4 s$/),
      expect.stringMatching(/^ {2}synth +12\.0 s {2}cdk\.out \(the source changed\)$/),
      expect.stringMatching(/^ {2}tables +0\.1 s$/),
    ]);
    expect(clock.total()).toBe('13.0 s');
  });
});
