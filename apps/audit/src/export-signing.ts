import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign, verify } from 'node:crypto';
import fs from 'node:fs';

/**
 * Ed25519 keys of the signed export. The signature is over the 32 raw bytes of the export's last hash (the hex
 * `lastHash` decoded), which commits to every line before it.
 *
 * Formats: the signing key (env AUDIT_SIGNING_KEY) is PEM PKCS#8 ("-----BEGIN PRIVATE KEY-----", as written by
 * `openssl genpkey -algorithm ed25519`); a public key is written into the export as base64 SPKI DER, and
 * `--public-key` takes that form, SPKI PEM text, or the path of a PEM file.
 */
export class SigningKeyError extends Error {}

export interface ExportSigner {
  /** base64 SPKI DER. */
  readonly publicKey: string;
  /** Where the private key came from: the environment, or generated for this run only. */
  readonly keySource: 'env' | 'generated';
  signDigest(lastHash: string): string;
}

const requireEd25519 = (key: KeyObject, what: string): KeyObject => {
  if (key.asymmetricKeyType !== 'ed25519') throw new SigningKeyError(`${what} is a ${key.asymmetricKeyType ?? 'symmetric'} key, not Ed25519`);
  return key;
};

export const publicKeyText = (key: KeyObject): string => key.export({ type: 'spki', format: 'der' }).toString('base64');

const signerFor = (privateKey: KeyObject, keySource: ExportSigner['keySource']): ExportSigner => ({
  publicKey: publicKeyText(createPublicKey(privateKey)),
  keySource,
  signDigest: (lastHash) => sign(null, Buffer.from(lastHash, 'hex'), privateKey).toString('base64'),
});

/** The signer of AUDIT_SIGNING_KEY when set, else a key pair generated for this run. */
export const exportSigner = (signingKeyPem: string | undefined): ExportSigner => {
  if (signingKeyPem === undefined || signingKeyPem.trim() === '') return signerFor(generateKeyPairSync('ed25519').privateKey, 'generated');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: signingKeyPem, format: 'pem' });
  } catch (error) {
    throw new SigningKeyError(`AUDIT_SIGNING_KEY is not a PEM PKCS#8 private key: ${error instanceof Error ? error.message : String(error)}`);
  }
  return signerFor(requireEd25519(key, 'AUDIT_SIGNING_KEY'), 'env');
};

/** A public key given as base64 SPKI DER, SPKI PEM text, or the path of a PEM file. */
export const parsePublicKey = (text: string): KeyObject => {
  const source = !text.includes('-----BEGIN') && fs.existsSync(text) ? fs.readFileSync(text, 'utf8') : text;
  try {
    const key = source.includes('-----BEGIN')
      ? createPublicKey({ key: source, format: 'pem' })
      : createPublicKey({ key: Buffer.from(source.trim(), 'base64'), format: 'der', type: 'spki' });
    // OpenSSL tolerates some non-canonical DER (e.g. a BIT STRING's unused-bits byte): accept only the exact
    // encoding it would write, so no changed byte of a key can still verify.
    if (!source.includes('-----BEGIN') && publicKeyText(key) !== source.trim()) throw new SigningKeyError('the public key is not canonical SPKI DER');
    return requireEd25519(key, 'the public key');
  } catch (error) {
    if (error instanceof SigningKeyError) throw error;
    throw new SigningKeyError(`not a public key (base64 SPKI DER, PEM, or a PEM file): ${error instanceof Error ? error.message : String(error)}`);
  }
};

export const verifyDigestSignature = (publicKey: KeyObject, lastHash: string, signature: string): boolean => {
  try {
    return verify(null, Buffer.from(lastHash, 'hex'), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
};
