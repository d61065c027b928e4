// CRC-32C (Castagnoli), the checksum Google's KMS and Secret Manager APIs send with payloads
// (`plaintextCrc32c`, `dataCrc32c`) so a client can tell a corrupted answer from a good one
// (https://cloud.google.com/kms/docs/data-integrity-guidelines).
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
