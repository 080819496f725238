import { generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningKeys } from '../../../src/auth/keys.js';
import { exportSlug } from '../../../src/services/export-archive.js';
import { DownloadLinks } from '../../../src/services/export-link.js';

const EXPORT = '0193a6f4-2e3f-7a41-8c5d-6e7f8091a2b3';
const OTHER = '0193a6f4-2e3f-7a41-8c5d-6e7f8091a2b4';
const USER = '0193a6f1-6b2c-7d3e-9f40-1a2b3c4d5e6f';

async function keys(): Promise<SigningKeys> {
  const pair = await generateKeyPair('RS256');
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, kid: 'k', publicJwk: {} };
}

const sigOf = (url: string) => new URL(url, 'http://x').searchParams.get('sig') as string;

describe('DownloadLinks', () => {
  it('when the link is fresh, verifies to its user; after its TTL, to nothing', async () => {
    const links = await DownloadLinks.create(await keys(), 600);
    const now = 1_800_000_000_000;
    const sig = sigOf(links.url(EXPORT, USER, now));
    expect(links.verify(EXPORT, sig, now + 599_000)).toBe(USER);
    expect(links.verify(EXPORT, sig, now + 600_000)).toBeNull();
  });

  it('when the signature is for another export, altered, or made with another key, verifies to nothing', async () => {
    const k = await keys();
    const links = await DownloadLinks.create(k, 600);
    const sig = sigOf(links.url(EXPORT, USER));
    expect(links.verify(OTHER, sig)).toBeNull();
    const [exp, user, mac] = sig.split('.') as [string, string, string];
    expect(links.verify(EXPORT, `${Number(exp) + 1}.${user}.${mac}`)).toBeNull();
    expect(links.verify(EXPORT, `${exp}.${USER.replace('6f', '70')}.${mac}`)).toBeNull();
    expect(links.verify(EXPORT, `${exp}.${user}.${mac.slice(1)}A`)).toBeNull();
    expect(links.verify(EXPORT, 'not-a-signature')).toBeNull();
    expect((await DownloadLinks.create(await keys(), 600)).verify(EXPORT, sig)).toBeNull();
    // The same key on another instance derives the same secret.
    expect((await DownloadLinks.create(k, 600)).verify(EXPORT, sig)).toBe(USER);
  });
});

describe('exportSlug', () => {
  it.each([
    ['My Idea', 'my-idea'],
    ['  Idea: Ünïcode & Co. 2026! ', 'idea-ünïcode-co-2026'],
    ['Проект №1', 'проект-1'],
    ['!!!', 'project'],
  ])('turns %j into %j', (name, slug) => {
    expect(exportSlug(name)).toBe(slug);
  });
});
