// Content digests (`sha256:<hex>`): computing and checking them.
import { createHash, type Hash } from 'node:crypto';
import { validateDigest } from './reference.js';

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a validated digest, used as a file name. */
export function digestHex(digest: string): string {
  validateDigest(digest);
  return digest.slice(digest.indexOf(':') + 1);
}

export function digestAlgorithm(digest: string): 'sha256' | 'sha512' {
  validateDigest(digest);
  return digest.slice(0, digest.indexOf(':')) as 'sha256' | 'sha512';
}

/** Hashes a stream as it passes, with the algorithm of an expected digest. */
export class Digester {
  private readonly hash: Hash;
  private bytes = 0;
  constructor(readonly algorithm: 'sha256' | 'sha512' = 'sha256') {
    this.hash = createHash(algorithm);
  }
  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }
  get size(): number {
    return this.bytes;
  }
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

/** Chain ID of a layer stack (OCI image spec): ChainID(L0) = DiffID(L0),
 *  ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256Digest(`${prev} ${d}`));
  }
  return out;
}
