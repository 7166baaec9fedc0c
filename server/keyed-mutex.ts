// Serialises async work per key (one sandbox or container at a time) without a global lock.
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Whether work for `key` is running or queued (the leak auditor treats its object as in flight). */
  isLocked(key: string): boolean {
    return this.tails.has(key);
  }

  /** Whether any key has work running or queued. */
  busy(): boolean {
    return this.tails.size > 0;
  }

  /** Keys with work queued or running (for the soak's leak check: must return to 0). */
  get size(): number {
    return this.tails.size;
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
