/** Resolve when cond() holds (checked every 10 ms), fail after timeoutMs. */
export async function until(cond: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

