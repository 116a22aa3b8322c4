/**
 * Reads the HTTP contract (docs/API.md, vendored from the shared one) as data: the error codes of its "Errors" section
 * with their statuses, and every endpoint it names (`METHOD /path` in backticks) with the error codes its text names
 * for it — from the mention to the next one in the same paragraph or list item.
 */
export interface ContractRoute {
  /** `GET /sales/{id}/access`: the method and the path as OpenAPI writes it (Nest's `:id` is `{id}`). */
  readonly key: string;
  readonly method: string;
  readonly path: string;
  readonly codes: ReadonlySet<string>;
}

export interface Contract {
  /** Code → HTTP status, as the "Errors" section lists them. */
  readonly statuses: ReadonlyMap<string, number>;
  readonly routes: readonly ContractRoute[];
}

const ENDPOINT = /`(GET|POST|PUT|DELETE|PATCH) (\/[^`\s?]*)[^`]*`/g;
const CODE_WITH_STATUS = /`([A-Z][A-Z_]+)` (\d{3})/g;
const WORD = /\b[A-Z][A-Z_]{2,}\b/g;

const sectionOf = (markdown: string, title: string): string => {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`API.md has no "## ${title}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
};

/** Paragraphs and list items: a line starting with "- " or "#", or a blank line, begins a new one. */
const blocksOf = (markdown: string): string[] => {
  const blocks: string[] = [];
  let current: string[] = [];
  for (const line of markdown.split('\n')) {
    if (line.trim() === '' || line.startsWith('- ') || line.startsWith('#')) {
      if (current.length > 0) blocks.push(current.join(' '));
      current = line.trim() === '' ? [] : [line];
    } else {
      current.push(line);
    }
  }
  if (current.length > 0) blocks.push(current.join(' '));
  return blocks;
};

export const toOpenApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

export const readContract = (markdown: string): Contract => {
  const statuses = new Map<string, number>();
  for (const [, code, status] of sectionOf(markdown, 'Errors').matchAll(CODE_WITH_STATUS)) statuses.set(code as string, Number(status));
  const routes = new Map<string, { method: string; path: string; codes: Set<string> }>();
  for (const block of blocksOf(markdown)) {
    const mentions = [...block.matchAll(ENDPOINT)];
    mentions.forEach((mention, i) => {
      const method = mention[1] as string;
      const path = toOpenApiPath(mention[2] as string);
      const key = `${method} ${path}`;
      const route = routes.get(key) ?? { method, path, codes: new Set<string>() };
      routes.set(key, route);
      const text = block.slice(mention.index + mention[0].length, mentions[i + 1]?.index ?? block.length);
      for (const [word] of text.matchAll(WORD)) if (statuses.has(word)) route.codes.add(word);
    });
  }
  return { statuses, routes: [...routes].map(([key, route]) => ({ key, ...route })) };
};
