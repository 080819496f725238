import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI, type JWK } from 'jose';
import type { Config } from '../config.js';

type KeyLike = Awaited<ReturnType<typeof importPKCS8>>;

export interface SigningKeys {
  readonly privateKey: KeyLike;
  readonly publicKey: KeyLike;
  readonly kid: string;
  readonly publicJwk: JWK;
}

const ALG = 'RS256';

async function fromPem(privatePem: string, publicPem: string): Promise<SigningKeys> {
  const privateKey = await importPKCS8(privatePem, ALG);
  const publicKey = await importSPKI(publicPem, ALG, { extractable: true });
  const jwk = await exportJWK(publicKey);
  // The kid is the key's RFC 7638 thumbprint: stable across restarts and instances.
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, publicKey, kid, publicJwk: { ...jwk, kid, alg: ALG, use: 'sig' } };
}

/**
 * Keys from JWT_PRIVATE_KEY/JWT_PUBLIC_KEY (or *_FILE, resolved by config). Without them
 * (development and test only; production is refused by config) one pair is generated into
 * DATA_DIR/jwt and reused on every later start, so tokens survive restarts.
 */
export async function loadSigningKeys(config: Config): Promise<SigningKeys> {
  if (config.jwtPrivateKey !== undefined && config.jwtPublicKey !== undefined) {
    return fromPem(config.jwtPrivateKey, config.jwtPublicKey);
  }
  const dir = path.resolve(config.dataDir, 'jwt');
  const privatePath = path.join(dir, 'private.pem');
  const publicPath = path.join(dir, 'public.pem');
  if (!existsSync(privatePath) || !existsSync(publicPath)) await generatePair(dir);
  return fromPem(await readFile(privatePath, 'utf8'), await readFile(publicPath, 'utf8'));
}

/**
 * Both files are written into a private temporary directory that is then renamed to `jwt`.
 * The rename fails when another process (two first starts at once) renamed its own first,
 * so everyone ends up with that one pair, never a private key of one pair beside the public
 * key of another.
 */
async function generatePair(dir: string): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  const staging = await mkdtemp(`${dir}.tmp-`);
  try {
    const pair = await generateKeyPair(ALG, { modulusLength: 2048, extractable: true });
    await writeFile(path.join(staging, 'private.pem'), await exportPKCS8(pair.privateKey), { mode: 0o600 });
    await writeFile(path.join(staging, 'public.pem'), await exportSPKI(pair.publicKey), { mode: 0o644 });
    // An empty `jwt` (left by an older version that crashed between mkdir and write) is replaced.
    await rmdir(dir).catch(() => undefined);
    await rename(staging, dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
