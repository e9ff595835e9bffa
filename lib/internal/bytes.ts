// Byte views shared by the packet helpers and the device.

/** `bytes` as a Buffer over the same memory: itself when it is one, else a view (no copy). */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
