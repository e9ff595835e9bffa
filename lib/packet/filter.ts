// Classic BPF socket filters for a TAP queue (TUNATTACHFILTER): the kernel runs
// the program on every frame it would queue for the reader and drops it on 0,
// before any copy to user space; the drops show as TX-dropped on the link.
import { endianness } from 'node:os';
import { outOfRange } from '../internal/errors';
import { validateArray, validateInteger, validateObject } from '../internal/validators';

/**
 * One classic BPF instruction, as `struct sock_filter`: an opcode, the jump
 * offsets when true / false (conditional jumps only) and a constant.
 *
 * ```ts
 * const accept: BpfInstruction = { code: BPF.RET | BPF.K, jt: 0, jf: 0, k: 0xffff };
 * ```
 */
export interface BpfInstruction {
  /** The opcode: class | size | mode, or class | op | source (see {@link BPF}). */
  code: number;
  /** Instructions to skip when a conditional jump is true (0-255). */
  jt: number;
  /** Instructions to skip when a conditional jump is false (0-255). */
  jf: number;
  /** The constant: an offset, a value to compare, a return length (32 bits). */
  k: number;
}

/**
 * The opcode parts of classic BPF (linux/bpf_common.h), to be OR-ed together.
 *
 * ```ts
 * const loadEtherType = bpfStatement(BPF.LD | BPF.H | BPF.ABS, 12);
 * ```
 */
export const BPF = Object.freeze({
  // classes
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  MISC: 0x07,
  // sizes
  W: 0x00,
  H: 0x08,
  B: 0x10,
  // modes
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  LEN: 0x80,
  MSH: 0xa0,
  // ALU and jump operations
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  // sources
  K: 0x00,
  X: 0x08,
  A: 0x10,
  // MISC operations
  TAX: 0x00,
  TXA: 0x80,
});

/** The kernel's limit on the length of a classic program (BPF_MAXINSNS). */
export const BPF_MAX_INSTRUCTIONS = 4096;

/**
 * A non-jump instruction (BPF_STMT).
 *
 * ```ts
 * bpfStatement(BPF.RET | BPF.K, 0); // drop
 * ```
 */
export function bpfStatement(code: number, k: number): BpfInstruction {
  return { code: validateInteger(code, 'code', 0, 0xffff), jt: 0, jf: 0, k: validateInteger(k, 'k', 0, 0xffffffff) };
}

/**
 * A jump instruction (BPF_JUMP): skip `jt` instructions when the test holds, else `jf`.
 *
 * ```ts
 * bpfJump(BPF.JMP | BPF.JEQ | BPF.K, 17, 0, 1); // if A == 17 go on, else skip one
 * ```
 */
export function bpfJump(code: number, k: number, jt: number, jf: number): BpfInstruction {
  return {
    code: validateInteger(code, 'code', 0, 0xffff),
    jt: validateInteger(jt, 'jt', 0, 0xff),
    jf: validateInteger(jf, 'jf', 0, 0xff),
    k: validateInteger(k, 'k', 0, 0xffffffff),
  };
}

function field(instructions: readonly BpfInstruction[], i: number, key: keyof BpfInstruction, max: number): number {
  return validateInteger(instructions[i][key], `instructions[${i}].${key}`, 0, max);
}

/**
 * Checks a program's shape and lays it out as the kernel's `struct sock_filter[]` (host byte
 * order); whether it is valid BPF the kernel decides when it is attached (EINVAL).
 */
export function encodeFilter(instructions: readonly BpfInstruction[]): Uint8Array {
  validateArray(instructions, 'instructions');
  if (instructions.length < 1 || instructions.length > BPF_MAX_INSTRUCTIONS) {
    throw outOfRange('instructions.length', `>= 1 and <= ${BPF_MAX_INSTRUCTIONS}`, instructions.length);
  }
  const bytes = Buffer.alloc(instructions.length * 8);
  const le = endianness() === 'LE';
  for (let i = 0; i < instructions.length; i++) {
    validateObject(instructions[i], `instructions[${i}]`);
    const code = field(instructions, i, 'code', 0xffff);
    const jt = field(instructions, i, 'jt', 0xff);
    const jf = field(instructions, i, 'jf', 0xff);
    const k = field(instructions, i, 'k', 0xffffffff);
    const o = i * 8;
    if (le) bytes.writeUInt16LE(code, o);
    else bytes.writeUInt16BE(code, o);
    bytes[o + 2] = jt;
    bytes[o + 3] = jf;
    if (le) bytes.writeUInt32LE(k, o + 4);
    else bytes.writeUInt32BE(k, o + 4);
  }
  return bytes;
}
