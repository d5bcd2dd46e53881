/** An error whose message alone tells the person running the stack what to do. */
export class LocalStackError extends Error {
  override readonly name = 'LocalStackError';
}
