/*
 * The proof-of-work solver of the sale page, run as a Web Worker so the page stays responsive while it works.
 * ALTCHA's algorithm (the challenge GET /sales/:id/access sends): find n in 0..max with SHA-256(salt + n) = challenge.
 * SHA-256 is written out here because crypto.subtle exists only in secure contexts and costs a promise per hash.
 * In:  {salt, challenge (64 hex), max}.  Out: {number} or {number: null} when no number in range solves it.
 */
'use strict';

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const W = new Uint32Array(64);

/** One SHA-256 block (64 bytes of `bytes` from `offset`) folded into `state`. */
const compress = (state, bytes, offset) => {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15];
    const b = W[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let [a, b, c, d, e, f, g, h] = state;
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
};

const solve = (salt, challenge, max) => {
  const target = new Uint32Array(8);
  for (let i = 0; i < 8; i++) target[i] = parseInt(challenge.slice(i * 8, i * 8 + 8), 16);
  const prefix = new TextEncoder().encode(salt);
  // The salt's whole blocks are hashed once; each try hashes only the salt's tail, the number and the padding.
  const whole = prefix.length - (prefix.length % 64);
  const midstate = INITIAL.slice();
  for (let offset = 0; offset < whole; offset += 64) compress(midstate, prefix, offset);
  const tail = prefix.subarray(whole);
  const block = new Uint8Array(128);
  const state = new Uint32Array(8);
  for (let n = 0; n <= max; n++) {
    const digits = String(n);
    const length = tail.length + digits.length;
    block.fill(0);
    block.set(tail);
    for (let i = 0; i < digits.length; i++) block[tail.length + i] = digits.charCodeAt(i);
    block[length] = 0x80;
    const end = length + 9 > 64 ? 128 : 64;
    const bits = (prefix.length + digits.length) * 8; // the message is far below 2^32 bits: the high word stays 0
    block[end - 4] = bits >>> 24;
    block[end - 3] = bits >>> 16;
    block[end - 2] = bits >>> 8;
    block[end - 1] = bits;
    state.set(midstate);
    compress(state, block, 0);
    if (end === 128) compress(state, block, 64);
    let found = true;
    for (let i = 0; i < 8 && found; i++) found = state[i] === target[i];
    if (found) return n;
  }
  return null;
};

self.onmessage = (event) => {
  const { salt, challenge, max } = event.data;
  self.postMessage({ number: solve(String(salt), String(challenge), Number(max)) });
};
