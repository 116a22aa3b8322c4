import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * Where the page's files are: `apps/web-static`, which the build copies to `dist/apps/web-static`. Resolved from this
 * file, so the same relative step finds the sources (tests) and the copy (`npm start`, `start:prod`, the image).
 */
export const SALE_PAGE_DIR = path.resolve(__dirname, '../../../web-static');

/** Seed 001: fetched at the sale's start with a random version, never cached by a browser or a CDN. */
export const ACTIVATION_SCRIPT = 'activate.js';
export const PAGE_DOCUMENT = 'index.html';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/** Everything but the activation script is static and may be kept by browsers and CDNs for a while. */
const CACHEABLE = 'public, max-age=300';

export interface PageAsset {
  readonly name: string;
  readonly contentType: string;
  readonly cacheControl: string;
  readonly etag: string;
  readonly body: Buffer;
  /** Sent to clients that accept gzip: the page's budget (API.md: under 30 KB gzipped) is counted in these bytes. */
  readonly gzipped: Buffer;
}

/**
 * The sale page's files, read and compressed once at start: a handful of small files, answered from memory. Only the
 * files found here exist; a name is looked up, never joined to a path, so no request reaches the file system.
 */
export class SalePageAssets {
  private readonly assets: ReadonlyMap<string, PageAsset>;

  constructor(dir: string = SALE_PAGE_DIR) {
    if (!fs.existsSync(path.join(dir, PAGE_DOCUMENT))) {
      throw new Error(`the sale page is missing: no ${PAGE_DOCUMENT} in ${dir} (npm run build copies apps/web-static there)`);
    }
    const assets = new Map<string, PageAsset>();
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const contentType = CONTENT_TYPES[path.extname(entry.name)];
      if (!entry.isFile() || contentType === undefined) continue;
      const body = fs.readFileSync(path.join(dir, entry.name));
      assets.set(entry.name, {
        name: entry.name,
        contentType,
        cacheControl: entry.name === ACTIVATION_SCRIPT ? 'no-store' : CACHEABLE,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        body,
        gzipped: gzipSync(body, { level: 9 }),
      });
    }
    this.assets = assets;
  }

  get(name: string): PageAsset | undefined {
    return this.assets.get(name);
  }

  names(): string[] {
    return [...this.assets.keys()];
  }
}
