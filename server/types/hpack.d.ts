// Minimal types for hpack.js (HPACK, RFC 7541): only the decompressor berth uses.
declare module 'hpack.js' {
  interface HeaderField {
    name: string;
    value: string;
    neverIndex: boolean;
  }
  interface Decompressor {
    write(chunk: Buffer): boolean;
    execute(cb?: (err: Error | null) => void): void;
    read(): HeaderField | null;
    updateTableSize(size: number): void;
  }
  const hpack: {
    decompressor: { create(options: { table: { size: number } }): Decompressor };
  };
  export default hpack;
}
