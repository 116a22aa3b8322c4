import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SALE_PAGE_DIR, SalePageAssets } from './sale-page.assets';

const pageDir = (files: Record<string, string>): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sale-page-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
};

describe('SalePageAssets', () => {
  const dirs: string[] = [];
  const made = (files: Record<string, string>): string => {
    const dir = pageDir(files);
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('finds the page from its own folder: apps/web-static from the sources, dist/apps/web-static once built', () => {
    expect(path.relative(path.resolve(__dirname, '../../..'), SALE_PAGE_DIR)).toBe('web-static');
    expect(new SalePageAssets().names().sort()).toEqual(['activate.js', 'index.html', 'pow-worker.js', 'sale.css', 'sale.js']);
  });

  it('keeps only the page, its scripts and style sheets; the activation script is never stored, the rest cacheable', () => {
    const assets = new SalePageAssets(made({ 'index.html': '<!doctype html>', 'activate.js': 'go()', 'sale.css': 'b{}', 'notes.md': '#', 'x.spec.ts': '' }));
    expect(assets.names().sort()).toEqual(['activate.js', 'index.html', 'sale.css']);
    expect(assets.get('activate.js')).toMatchObject({ contentType: 'text/javascript; charset=utf-8', cacheControl: 'no-store' });
    expect(assets.get('index.html')).toMatchObject({ contentType: 'text/html; charset=utf-8', cacheControl: 'public, max-age=300' });
    expect(assets.get('sale.css')).toMatchObject({ contentType: 'text/css; charset=utf-8', cacheControl: 'public, max-age=300' });
    expect(assets.get('../index.html')).toBeUndefined();
  });

  it('holds each file gzipped, with an ETag that follows its content', () => {
    const one = new SalePageAssets(made({ 'index.html': 'hello page' })).get('index.html')!;
    const same = new SalePageAssets(made({ 'index.html': 'hello page' })).get('index.html')!;
    const other = new SalePageAssets(made({ 'index.html': 'hello page!' })).get('index.html')!;
    expect(gunzipSync(one.gzipped).toString()).toBe('hello page');
    expect(one.etag).toMatch(/^"[\w-]{22}"$/);
    expect(same.etag).toBe(one.etag);
    expect(other.etag).not.toBe(one.etag);
  });

  it('refuses to start without the page, naming where it looked', () => {
    const empty = made({});
    expect(() => new SalePageAssets(empty)).toThrow(`the sale page is missing: no index.html in ${empty}`);
  });
});
