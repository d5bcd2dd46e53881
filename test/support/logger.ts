/** Records what the code under test logs, so tests can assert on it and keep the output clean. */
export function recordingLogger() {
  const lines: { level: string; message: string; extra: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, extra: Record<string, unknown>) => {
    lines.push({ level, message, extra });
  };
  return { lines, warn: at('warn'), error: at('error'), info: at('info') };
}
