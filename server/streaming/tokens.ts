// Single-use tokens for the streaming URLs that Exec, Attach and PortForward return.
// kubelet asks for a URL and connects to it at once; a token is good for one connection
// and for a short while only (kubelet's own streaming server uses one minute), so a URL
// that leaked into a log cannot be replayed.
import { randomBytes } from 'node:crypto';

export const TOKEN_TTL_MS = 60_000;
/** Outstanding tokens at most; a flood of requests that are never used cannot grow memory. */
export const MAX_TOKENS = 1000;

export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; expires: number }>();

  constructor(
    private readonly ttlMs = TOKEN_TTL_MS,
    private readonly max = MAX_TOKENS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores `value` under a new token; undefined when the cache is full of live tokens. */
  insert(value: T): string | undefined {
    this.evictExpired();
    if (this.entries.size >= this.max) return undefined;
    // 16 random bytes, URL-safe: unguessable and needs no escaping in a path.
    const token = randomBytes(16).toString('base64url');
    this.entries.set(token, { value, expires: this.now() + this.ttlMs });
    return token;
  }

  /** Returns the value and forgets the token; undefined when unknown, used or expired. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expires > this.now() ? e.value : undefined;
  }

  get size(): number {
    this.evictExpired();
    return this.entries.size;
  }

  private evictExpired(): void {
    const now = this.now();
    // Insertion order is expiry order (one TTL for all), so stop at the first live one.
    for (const [k, e] of this.entries) {
      if (e.expires > now) break;
      this.entries.delete(k);
    }
  }
}
