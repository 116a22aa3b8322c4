import { createHash } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const parseUuid = (uuid: string): Buffer => {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
};

/**
 * RFC 9562 version 5 (SHA-1, name-based) UUIDs in a given namespace: the same ids as `uuid`'s `v5(name, namespace)`
 * (a property test holds it to that), computed with one native hash and a table lookup per byte instead of the
 * package's per-call namespace parsing and UTF-8 conversion in JavaScript. Event ids are derived on every append.
 */
export const uuidV5In = (namespace: string): ((name: string) => string) => {
  const ns = parseUuid(namespace);
  return (name) => {
    const b = createHash('sha1').update(ns).update(name, 'utf8').digest();
    const h = (i: number): string => HEX[b[i] as number] as string;
    const v = HEX[((b[6] as number) & 0x0f) | 0x50] as string;
    const r = HEX[((b[8] as number) & 0x3f) | 0x80] as string;
    return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${v}${h(7)}-${r}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
  };
};
