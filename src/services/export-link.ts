import { createHash, createHmac, timingSafeEqual, webcrypto } from 'node:crypto';
import type { SigningKeys } from '../auth/keys.js';

/**
 * Signed download links (docs/contract.md §11, docs/adr/0023): `sig` = `<exp>.<user id>.<mac>`,
 * an HMAC-SHA256 over the export id, the user and the expiry. Every instance derives the same HMAC
 * key from the service's RS256 key (an RSA PKCS#1 v1.5 signature of a fixed label is
 * deterministic), so no new secret has to be deployed and rotating the signing key rotates links.
 */
export class DownloadLinks {
  private constructor(
    private readonly key: Buffer,
    private readonly ttlSeconds: number,
  ) {}

  static async create(keys: SigningKeys, ttlSeconds: number): Promise<DownloadLinks> {
    const label = new TextEncoder().encode('jeex-api export download links v1');
    const signature = await webcrypto.subtle.sign('RSASSA-PKCS1-v1_5', keys.privateKey as webcrypto.CryptoKey, label);
    return new DownloadLinks(createHash('sha256').update(Buffer.from(signature)).digest(), ttlSeconds);
  }

  /** A link for this user to this export, good for the link TTL from `now`. */
  url(exportId: string, userId: string, now = Date.now()): string {
    const exp = Math.floor(now / 1000) + this.ttlSeconds;
    return `/api/v1/exports/${exportId}/download?sig=${exp}.${userId}.${this.mac(exportId, userId, exp)}`;
  }

  /**
   * The user the signature was made for, or null: malformed, tampered, made for another export,
   * or expired all look the same to the caller (one 403, no oracle).
   */
  verify(exportId: string, sig: string, now = Date.now()): string | null {
    const match = /^(\d{1,12})\.([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/.exec(sig);
    if (!match) return null;
    const [, expText, userId, mac] = match as unknown as [string, string, string, string];
    const exp = Number(expText);
    const expected = Buffer.from(this.mac(exportId, userId, exp), 'utf8');
    const given = Buffer.from(mac, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return exp * 1000 > now ? userId : null;
  }

  private mac(exportId: string, userId: string, exp: number): string {
    return createHmac('sha256', this.key).update(`export-download\n${exportId}\n${userId}\n${exp}`).digest('base64url');
  }
}
