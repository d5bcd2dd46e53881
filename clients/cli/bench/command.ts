/**
 * `updraft bench`: measures a stack with many subscribers and a steady
 * stream of posts (README.md, "Before launch: measure your stack"), and
 * `updraft bench merge` joins the JSON reports of a run's shards.
 */
import { readFileSync } from 'node:fs';
import type { BenchCommand } from '../commands';
import { Exit, UsageError } from '../errors';
import { estimate } from './cost';
import { planOf, type BenchOptions } from './plan';
import { formatReport, mergeReports, parseReport, type BenchReport } from './report';
import { runShard, type Progress } from './run';
import { tokenSource, type SecretReader } from './tokens';

/** The table's entry (clients/cli/commands.ts): help, and which options are bench's. main() runs bench() for it. */
export const benchCommand = {
  name: 'bench',
  via: 'bench',
  args: '[merge <report.json…>]',
  options: ['subscribers', 'channels', 'posts', 'rate', 'duration', 'shard', 'run', 'start', 'secret-arn', 'token-cmd', 'audience', 'yes'],
  help: 'measure a stack: subscribers on channels, posts at a rate, and the\ntime from post to delivery (README, "Before launch"); merge joins\nshards\' --json reports',
  interactive: false,
} as const satisfies BenchCommand;

/** Above this many connections a run against a deployed stack waits for --yes. */
export const CONFIRM_ABOVE_CONNECTIONS = 1000;

export interface BenchInvocation {
  readonly args: readonly string[];
  readonly options: BenchOptions & { readonly 'secret-arn'?: string | undefined; readonly 'token-cmd'?: string | undefined };
  /** The `aud` of tokens signed with --secret-arn: --audience, or UPDRAFT_JWT_AUDIENCE. */
  readonly audience?: string | undefined;
  /** Reads the stack's secret (tests stand in for Secrets Manager). */
  readonly readSecret?: SecretReader;
  readonly url: string;
  readonly yes: boolean;
  readonly json: boolean;
  readonly write: (line: string) => void;
  /** Progress and the cost estimate: stderr. */
  readonly stderr?: NodeJS.WriteStream;
}

export async function bench(invocation: BenchInvocation): Promise<number> {
  const { args, options, json, write } = invocation;
  const stderr = invocation.stderr ?? process.stderr;
  if (args[0] === 'merge') {
    const files = args.slice(1);
    if (files.length === 0) throw new UsageError('merge which reports? updraft bench merge <report.json…>');
    const reports = files.map((file) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw new UsageError(`cannot read ${file}`);
      }
      try {
        return parseReport(text, file);
      } catch (error) {
        throw new UsageError(error instanceof Error ? error.message : String(error));
      }
    });
    let merged: BenchReport;
    try {
      merged = mergeReports(reports);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    return show(merged, json, write);
  }
  if (args.length > 0) throw new UsageError('bench takes options, or: updraft bench merge <report.json…>');

  const plan = planOf(options);
  const tokens = await tokenSource(invocation.url, { secretArn: options['secret-arn'], tokenCmd: options['token-cmd'], audience: invocation.audience }, invocation.readSecret);
  if (!tokens.local) {
    const cost = estimate(plan);
    for (const line of cost.lines) stderr.write(`${line}\n`);
    if (cost.connections > CONFIRM_ABOVE_CONNECTIONS && !invocation.yes) {
      throw new UsageError(`this run opens ${cost.connections} connections (over ${CONFIRM_ABOVE_CONNECTIONS}): add --yes to run it`);
    }
  }
  const progress = progressLine(stderr);
  const report = await runShard(plan, tokens, progress.update);
  progress.done();
  return show(report, json, write);
}

function show(report: BenchReport, json: boolean, write: (line: string) => void): number {
  write(json ? JSON.stringify(report) : formatReport(report));
  // A script can tell a clean run from one that lost something.
  return report.deliveries.missing === 0 && report.handshakeFailures.total === 0 ? Exit.Ok : Exit.Refused;
}

/** One line rewritten in place on a terminal; elsewhere (a log, CI) a line every 5 s, and the last one. */
function progressLine(stream: NodeJS.WriteStream): { update: Progress; done: () => void } {
  let last = '';
  let lastAt = 0;
  const update: Progress = (line) => {
    last = line;
    if (stream.isTTY) {
      stream.write(`\r\x1b[2K${line}`);
      return;
    }
    if (Date.now() - lastAt < 5000) return;
    lastAt = Date.now();
    stream.write(`${line}\n`);
    last = '';
  };
  return {
    update,
    done: () => {
      if (stream.isTTY) stream.write('\n');
      else if (last !== '') stream.write(`${last}\n`);
    },
  };
}
