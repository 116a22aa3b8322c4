/** PromQL words that look like metric names but are not (aggregation modifiers, set operators, bool, offset). */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads, for checking that a dashboard or a rule queries only series that exist.
 * Good enough for the expressions of this repository, not a PromQL parser: strings, label matchers, label lists,
 * range selectors and Grafana variables are cut out, then every identifier not called as a function is a metric.
 */
export const metricNamesIn = (expr: string): string[] => {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\{?[A-Za-z_]\w*\}?/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (call === undefined && !KEYWORDS.has((name as string).toLowerCase())) names.add(name as string);
  }
  return [...names];
};
