export interface WaitOptions {
  readonly deadline: number;
  readonly intervalMs?: number;
  /** Checked before each try: an error here ends the wait at once (say, the server process died). */
  readonly giveUp?: () => Error | undefined;
}

/** Polls `check` until it holds, or fails naming what it waited for and the last error seen. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  let lastError: unknown;
  while (Date.now() < options.deadline) {
    const fatal = options.giveUp?.();
    if (fatal !== undefined)
      throw new Error(`gave up waiting for ${what}: ${fatal.message}`, { cause: fatal });
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out waiting for ${what}${detail}`, { cause: lastError });
}
