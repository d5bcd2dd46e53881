/** What to show for something thrown: its message if it is an Error, else the value in words. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : 'something went wrong';
}
