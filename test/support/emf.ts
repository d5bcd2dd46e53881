/** One EMF document as Powertools Metrics prints it. */
export interface EmfDocument {
  readonly _aws: { readonly CloudWatchMetrics: readonly { readonly Namespace: string; readonly Dimensions: string[][]; readonly Metrics: { Name: string; Unit: string }[] }[] };
  readonly [key: string]: unknown;
}

/**
 * Runs `act` with metrics switched on (the unit tests turn them off) and
 * returns what it settled to and the EMF documents it printed on stdout.
 * `load` must build the module under test inside `act`'s own time, because
 * Powertools reads POWERTOOLS_METRICS_DISABLED when a Metrics object is made.
 */
export async function withEmf<T>(act: () => Promise<T>): Promise<{ outcome: PromiseSettledResult<T>; documents: EmfDocument[] }> {
  const lines: string[] = [];
  const saved = process.env['POWERTOOLS_METRICS_DISABLED'];
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'false';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(chunk.toString());
    return true;
  });
  let outcome: PromiseSettledResult<T>;
  try {
    outcome = await act().then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    );
  } finally {
    spy.mockRestore();
    process.env['POWERTOOLS_METRICS_DISABLED'] = saved;
  }
  const documents = lines.flatMap((chunk) => chunk.split('\n')).filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line) as EmfDocument);
  return { outcome, documents };
}

/** Metric names in the documents, in order. */
export const metricNames = (documents: readonly EmfDocument[]) => documents.flatMap((d) => d._aws.CloudWatchMetrics.flatMap((m) => m.Metrics.map((x) => x.Name)));
