import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from 'undici';
import { progress } from './support/log';
import { freePort, makeTempDir, NodeProcess, Placement, REPO_ROOT, sleep } from './support/processes';

const USAGE = `usage: node dist/bench/reservation-path.js [--dist DIR] [--worker external] [--idle-ms MS] [--quiet-windows N] [--functions] [--json] [--keep]

  The path of one reservation as a list of files: which of the repository's own source files (apps/, libs/) run code
  while a warmed-up api serves one POST /sales/:id/reservations answered 201, then one answered 409 SOLD_OUT.
  The api (DIR/apps/api/src/main.js; DIR defaults to this repository's dist/) runs under NODE_V8_COVERAGE with a
  preloaded hook that writes V8's precise coverage on SIGUSR2; each write resets the call counts, so each coverage
  file covers the window since the previous one (checked on every run). A function counts when it was called in a
  request's window and in none of the quiet windows taken back to back before the first request (--quiet-windows
  of --idle-ms each, default 4 × 300 ms: background timers such as sagas, projections and flushes). A request's
  window runs from the take before it to --idle-ms after its answer (work it set off: projections, sagas); files that
  ran only after the take that followed the answer are marked.
  Files are the .ts sources of the .js files that ran. --functions lists the functions of each file; --json prints
  JSON; --keep keeps the coverage files. --worker external runs the api with WORKER=external (no worker process is
  started: only the api's own path is measured, its sagas and projection being the worker's). Progress goes to stderr.`;

interface Options {
  readonly dist: string;
  readonly idleMs: number;
  readonly quietWindows: number;
  readonly functions: boolean;
  readonly json: boolean;
  readonly keep: boolean;
  readonly worker?: 'embedded' | 'external';
}

const workerMode = (text: string): 'embedded' | 'external' => {
  if (text !== 'embedded' && text !== 'external') throw new Error(`--worker takes embedded or external, got "${text}"`);
  return text;
};

const parseOptions = (): Options => {
  const { values } = parseArgs({
    options: {
      dist: { type: 'string', default: path.join(REPO_ROOT, 'dist') },
      'idle-ms': { type: 'string', default: '300' },
      'quiet-windows': { type: 'string', default: '4' },
      functions: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      worker: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const integer = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, got "${text}"`);
    return n;
  };
  return {
    dist: path.resolve(values.dist),
    idleMs: integer('idle-ms', values['idle-ms'], 10, 60_000),
    quietWindows: integer('quiet-windows', values['quiet-windows'], 1, 100),
    functions: values.functions,
    json: values.json,
    keep: values.keep,
    ...(values.worker === undefined ? {} : { worker: workerMode(values.worker) }),
  };
};

/** Reservations before the measured ones, on a sale of their own: first-use compilation and loading happen here. */
const WARM_UP_STOCK = 5;
const WARM_UP_SOLD_OUT = 3;
/** Both sales start this far ahead (so that scheduling is never refused as in the past); the script waits for it. */
const START_DELAY_MS = 2000;
const NOT_PINNED: Placement = { taskset: false, sutCore: 0, loadCore: 0, note: 'not pinned: coverage counts calls, not time' };

// ---------------------------------------------------------------------------------------------------------------
// Coverage windows

interface CoverageRange {
  readonly startOffset: number;
  readonly endOffset: number;
  readonly count: number;
}

interface CoverageScript {
  readonly url: string;
  readonly functions: readonly { readonly functionName: string; readonly ranges: readonly CoverageRange[] }[];
}

interface Called {
  /** The source file, relative to the repository: `libs/gate/src/in-process-gate.ts`. */
  readonly file: string;
  readonly name: string;
  readonly count: number;
}

/** The functions of apps/ and libs/ called in one window, keyed by `file@start-end` (offsets in the built .js). */
type Window = ReadonlyMap<string, Called>;

/** Sends SIGUSR2 to the api and reads the coverage file the hook writes: the functions called since the last take. */
class CoverageTaker {
  private readonly seen = new Set<string>();
  private readonly lines = new Map<string, number[]>();

  constructor(
    private readonly dir: string,
    private readonly dist: string,
    private readonly server: NodeProcess,
  ) {}

  async take(): Promise<Window> {
    process.kill(this.server.pid, 'SIGUSR2');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const fresh = fs.readdirSync(this.dir).filter((name) => name.endsWith('.json') && !this.seen.has(name));
      if (fresh.length > 1) throw new Error(`more than one coverage file appeared for one take (${fresh.join(', ')}): did a worker thread exit?`);
      const [name] = fresh;
      if (name !== undefined) {
        const scripts = this.parse(path.join(this.dir, name));
        if (scripts) {
          this.seen.add(name);
          return this.window(scripts);
        }
      }
      if (this.server.exited) throw new Error(`the api exited:\n${this.server.logs}`);
      if (Date.now() > deadline) throw new Error('no coverage file 30 s after SIGUSR2: is the hook loaded?');
      await sleep(10);
    }
  }

  /** The file's scripts, or undefined while it is still being written. */
  private parse(file: string): readonly CoverageScript[] | undefined {
    try {
      return (JSON.parse(fs.readFileSync(file, 'utf8')) as { result: CoverageScript[] }).result;
    } catch {
      return undefined;
    }
  }

  private window(scripts: readonly CoverageScript[]): Window {
    const called = new Map<string, Called>();
    for (const script of scripts) {
      if (!script.url.startsWith('file://')) continue;
      const built = fileURLToPath(script.url);
      const relative = path.relative(this.dist, built).split(path.sep).join('/');
      if (!/^(apps|libs)\/.*\.js$/.test(relative)) continue;
      const file = relative.replace(/\.js$/, '.ts');
      for (const fn of script.functions) {
        // With block coverage the first range is the whole function and its count is the number of calls.
        const range = fn.ranges[0];
        if (range === undefined || range.count === 0) continue;
        const name = fn.functionName || `(anonymous, ${path.basename(built)} line ${this.lineOf(built, range.startOffset)})`;
        called.set(`${file}@${range.startOffset}-${range.endOffset}`, { file, name, count: range.count });
      }
    }
    return called;
  }

  private lineOf(builtFile: string, offset: number): number {
    let starts = this.lines.get(builtFile);
    if (!starts) {
      const text = fs.readFileSync(builtFile, 'utf8');
      starts = [0];
      for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
      this.lines.set(builtFile, starts);
    }
    return starts.filter((start) => start <= offset).length;
  }
}

const union = (windows: readonly Window[]): Window => new Map(windows.flatMap((w) => [...w]));
const minus = (w: Window, quiet: Window): Window => new Map([...w].filter(([key]) => !quiet.has(key)));
const filesOf = (w: Window): string[] => [...new Set([...w.values()].map((c) => c.file))].sort();

/**
 * Evidence that a take resets V8's counts: a function called fewer times in a later window than in an earlier one
 * (counts that accumulated would never go down). The one called least in the later window, then most before.
 */
const resetEvidence = (earlier: Window, later: Window): (Called & { readonly before: number }) | undefined => {
  let best: (Called & { readonly before: number }) | undefined;
  for (const [key, now] of later) {
    const before = earlier.get(key)?.count ?? 0;
    if (now.count >= before) continue;
    if (best === undefined || now.count < best.count || (now.count === best.count && before > best.before)) best = { ...now, before };
  }
  return best;
};

// ---------------------------------------------------------------------------------------------------------------
// HTTP, over one kept-alive connection (a reconnect would put connection set-up into a window: it is reported)

interface Answer {
  readonly status: number;
  readonly body: any;
}

class Http {
  connects = 0;
  private readonly client: Client;

  constructor(baseUrl: string) {
    this.client = new Client(baseUrl, { keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000, pipelining: 1 });
    this.client.on('connect', () => (this.connects += 1));
  }

  async call(method: 'GET' | 'POST', route: string, bearer?: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await this.client.request({
      method,
      path: route,
      headers: { ...headers, ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  }

  async expect(status: number, method: 'GET' | 'POST', route: string, bearer?: string, body?: unknown, headers?: Record<string, string>): Promise<any> {
    const answer = await this.call(method, route, bearer, body, headers);
    if (answer.status !== status) throw new Error(`${method} ${route} answered ${answer.status} (expected ${status}): ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The run

interface RequestReport {
  readonly status: number;
  readonly code?: string;
  /** Every file, sorted: until the answer, then what ran within idleMs after it. */
  readonly files: readonly string[];
  readonly untilAnswer: readonly string[];
  readonly afterAnswerOnly: readonly string[];
  /** Files that ran in the window, but only functions that also ran while idle (so not counted). */
  readonly hiddenByQuiet: readonly string[];
  readonly functions: Readonly<Record<string, readonly string[]>>;
  /** The client had to open a new connection for this request: connection set-up is in the window. */
  readonly reconnected: boolean;
}

interface Report {
  readonly dist: string;
  readonly checkout?: string;
  readonly idleMs: number;
  readonly quietWindows: number;
  readonly resetCheck: string;
  readonly created: RequestReport;
  readonly soldOut: RequestReport;
  /** Files that ran while idle before the first request: what every window is cleaned of. */
  readonly quiet: readonly string[];
  /** Files that ran, beyond the quiet ones, in the quiet windows between the two requests (a 201's late tail). */
  readonly between: readonly string[];
}

const reportOf = (answer: Answer, untilAnswer: Window, afterAnswer: Window, quiet: Window, reconnected: boolean): RequestReport => {
  const until = minus(untilAnswer, quiet);
  const after = minus(afterAnswer, quiet);
  const all = union([until, after]);
  const untilFiles = filesOf(until);
  const functions: Record<string, string[]> = {};
  for (const called of all.values()) (functions[called.file] ??= []).push(called.name);
  for (const names of Object.values(functions)) names.sort();
  const code = answer.body?.error?.code as string | undefined;
  return {
    status: answer.status,
    ...(code === undefined ? {} : { code }),
    files: filesOf(all),
    untilAnswer: untilFiles,
    afterAnswerOnly: filesOf(after).filter((f) => !untilFiles.includes(f)),
    hiddenByQuiet: filesOf(union([untilAnswer, afterAnswer])).filter((f) => !(f in functions)),
    functions,
    reconnected,
  };
};

const checkoutOf = (dist: string): string | undefined => {
  try {
    return execFileSync('git', ['-C', path.dirname(dist), 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
};

const measure = async (options: Options, dist: string, tmp: string): Promise<Report> => {
  const entry = path.join(dist, 'apps/api/src/main.js');
  const coverageDir = path.join(tmp, 'coverage');
  const hook = path.join(tmp, 'take-coverage-on-sigusr2.js');
  fs.mkdirSync(coverageDir);
  fs.writeFileSync(hook, "process.on('SIGUSR2', () => require('v8').takeCoverage());\n");
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const server = new NodeProcess({
    label: 'api',
    script: entry,
    nodeArgs: ['--require', hook],
    placement: NOT_PINNED,
    env: {
      NODE_V8_COVERAGE: coverageDir,
      DEMO: '1',
      DATA_DIR: path.join(tmp, 'data'),
      ACCESS_LIMITS: 'off',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      // The measured requests go over a connection opened during the warm-up: keep it open across the idle windows.
      KEEP_ALIVE_TIMEOUT_MS: '600000',
      ...(options.worker === undefined ? {} : { WORKER: options.worker }),
    },
  });
  const http = new Http(baseUrl);
  server.start();
  try {
    await server.waitHttpReady(baseUrl);
    progress(`api ready on port ${port} (${entry})`);
    const coverage = new CoverageTaker(coverageDir, dist, server);

    const token = async (userId: string, roles?: string[]): Promise<string> =>
      ((await http.expect(200, 'POST', '/auth/dev-token', undefined, { userId, ...(roles ? { roles } : {}) })) as { token: string }).token;
    const admin = await token('path-admin', ['admin']);
    const startsAt = Date.now() + START_DELAY_MS;
    const schedule = async (name: string, totalStock: number): Promise<string> =>
      (
        (await http.expect(201, 'POST', '/admin/sales', admin, {
          sku: 'PATH',
          name,
          price: 1999,
          totalStock,
          shards: 1,
          startsAt: new Date(startsAt).toISOString(),
          endsAt: new Date(startsAt + 3_600_000).toISOString(),
          perUserLimit: 1,
          inventoryMode: 'reserve',
          holdTtlMs: 600_000,
          challenge: 'none',
        })) as { id: string }
      ).id;
    const warmUpSale = await schedule('reservation path: warm-up', WARM_UP_STOCK);
    // Two units: one for a first buyer before any window (the sale's first reservation loads its shards and its gate
    // state: first use, not the path of a reservation), one for the measured 201; then the measured SOLD_OUT.
    const sale = await schedule('reservation path: measured', 2);
    await sleep(startsAt + 100 - Date.now());

    const purchaseToken = async (saleId: string, bearer: string): Promise<string> =>
      ((await http.expect(200, 'GET', `/sales/${saleId}/access`, bearer)) as { purchaseToken: string }).purchaseToken;
    const reserve = (saleId: string, bearer: string, purchase: string, key: string): Promise<Answer> =>
      http.call('POST', `/sales/${saleId}/reservations`, bearer, { quantity: 1, purchaseToken: purchase }, { 'idempotency-key': key });

    progress(`warm-up: ${WARM_UP_STOCK} reservations and ${WARM_UP_SOLD_OUT} sold-out attempts on sale ${warmUpSale}`);
    // Every purchase token first: once the sale is sold out, GET /access may answer SOLD_OUT instead.
    const warmUpBuyers: { bearer: string; purchase: string }[] = [];
    for (let i = 0; i < WARM_UP_STOCK + WARM_UP_SOLD_OUT; i++) {
      const bearer = await token(`path-warm-${i}`);
      warmUpBuyers.push({ bearer, purchase: await purchaseToken(warmUpSale, bearer) });
    }
    for (const [i, { bearer, purchase }] of warmUpBuyers.entries()) {
      const answer = await reserve(warmUpSale, bearer, purchase, `path-warm-${i}-key`);
      const expected = i < WARM_UP_STOCK ? 201 : 409;
      if (answer.status !== expected) throw new Error(`warm-up reservation ${i} answered ${answer.status} (expected ${expected}): ${JSON.stringify(answer.body)}`);
    }
    const first = await token('path-buyer-first');
    const firstAnswer = await reserve(sale, first, await purchaseToken(sale, first), 'path-buyer-first-key');
    if (firstAnswer.status !== 201) throw new Error(`the measured sale's first reservation answered ${firstAnswer.status}: ${JSON.stringify(firstAnswer.body)}`);
    // Both buyers hold their purchase token before any window, for the same reason.
    const winner = await token('path-buyer-201');
    const loser = await token('path-buyer-sold-out');
    const winnerToken = await purchaseToken(sale, winner);
    const loserToken = await purchaseToken(sale, loser);
    await sleep(options.idleMs);
    const warmUp = await coverage.take();

    const quietWindows = async (): Promise<Window[]> => {
      const windows: Window[] = [];
      for (let i = 0; i < options.quietWindows; i++) {
        await sleep(options.idleMs);
        windows.push(await coverage.take());
      }
      return windows;
    };
    /** The window starts at the take that ended the last quiet window, runs until the answer; then idleMs after it. */
    const request = async (label: string, bearer: string, purchase: string): Promise<{ answer: Answer; until: Window; after: Window; reconnected: boolean }> => {
      progress(`${label}: one reservation on sale ${sale}`);
      const connects = http.connects;
      const answer = await reserve(sale, bearer, purchase, `${label}-key`);
      const until = await coverage.take();
      await sleep(options.idleMs);
      const after = await coverage.take();
      return { answer, until, after, reconnected: http.connects !== connects };
    };

    progress(`quiet: ${options.quietWindows} × ${options.idleMs} ms`);
    const quiet = union(await quietWindows());
    const created = await request('path-buyer-201', winner, winnerToken);
    if (created.answer.status !== 201) throw new Error(`the measured reservation answered ${created.answer.status}: ${JSON.stringify(created.answer.body)}`);
    const between = minus(union(await quietWindows()), quiet);
    const soldOut = await request('path-buyer-sold-out', loser, loserToken);
    if (soldOut.answer.status !== 409 || soldOut.answer.body?.error?.code !== 'SOLD_OUT') {
      throw new Error(`the sold-out attempt answered ${soldOut.answer.status}: ${JSON.stringify(soldOut.answer.body)}`);
    }

    const evidence = resetEvidence(warmUp, minus(created.until, quiet));
    if (!evidence) throw new Error('no function was called fewer times in the 201 window than during the warm-up: takes do not reset the counts, windows would be cumulative');
    const resetCheck = `each take resets the counts: ${evidence.name} (${evidence.file}) ran ${evidence.before}× from start-up through the warm-up, ${evidence.count}× in the 201 window`;

    const checkout = checkoutOf(dist);
    return {
      dist,
      ...(checkout === undefined ? {} : { checkout }),
      idleMs: options.idleMs,
      quietWindows: options.quietWindows,
      resetCheck,
      created: reportOf(created.answer, created.until, created.after, quiet, created.reconnected),
      soldOut: reportOf(soldOut.answer, soldOut.until, soldOut.after, quiet, soldOut.reconnected),
      quiet: filesOf(quiet),
      between: filesOf(between),
    };
  } finally {
    await http.close();
    await server.stop();
  }
};

// ---------------------------------------------------------------------------------------------------------------
// Output

/** `apps/api/src` or `libs/gate/src`: the top folder a file is listed under. */
const groupOf = (file: string): string => file.split('/').slice(0, 3).join('/');

const listing = (files: readonly string[], mark: (file: string) => string = () => '', functions?: Readonly<Record<string, readonly string[]>>): string[] => {
  const groups = new Map<string, string[]>();
  for (const file of files) {
    const group = groupOf(file);
    groups.set(group, [...(groups.get(group) ?? []), file]);
  }
  const lines: string[] = [];
  for (const [group, members] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${group}/ (${members.length})`);
    for (const file of members) {
      lines.push(`    ${file.slice(group.length + 1)}${mark(file)}`);
      for (const name of functions?.[file] ?? []) lines.push(`        ${name}`);
    }
  }
  return lines;
};

const requestText = (title: string, r: RequestReport, options: Options): string[] => {
  const after = new Set(r.afterAnswerOnly);
  return [
    `${title}: ${r.files.length} files`,
    `  (* = ran only after the take that followed the answer: work the request set off; ${r.afterAnswerOnly.length} here, a split that moves with timing, the total does not)`,
    ...(r.reconnected ? ['  ! the client opened a new connection for this request: connection set-up is in the window'] : []),
    ...listing(r.files, (f) => (after.has(f) ? '  *' : ''), options.functions ? r.functions : undefined),
    ...(r.hiddenByQuiet.length > 0 ? [`  ran too, but only functions that also ran while idle (not counted; varies with the timers): ${r.hiddenByQuiet.join(', ')}`] : []),
    '',
  ];
};

const toText = (report: Report, options: Options): string =>
  [
    `The path of one reservation, as files — ${report.dist}${report.checkout === undefined ? '' : ` (checkout at ${report.checkout})`}`,
    `windows: ${report.quietWindows} quiet × ${report.idleMs} ms before the first request; each request from the take before it to ${report.idleMs} ms after its answer`,
    report.resetCheck,
    '',
    ...requestText('POST /sales/:id/reservations → 201', report.created, options),
    ...requestText('POST /sales/:id/reservations → 409 SOLD_OUT', report.soldOut, options),
    `ran while idle (every window is cleaned of their functions): ${report.quiet.length} files`,
    ...listing(report.quiet),
    ...(report.between.length > 0 ? ['', `ran between the two requests beyond the quiet ones (the 201's late tail): ${report.between.join(', ')}`] : []),
    '',
  ].join('\n');

const optionsOrUsage = (): Options => {
  try {
    return parseOptions();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    process.exit(2);
  }
};

const main = async (): Promise<void> => {
  const options = optionsOrUsage();
  const entry = path.join(options.dist, 'apps/api/src/main.js');
  if (!fs.existsSync(entry)) throw new Error(`no built api at ${entry} (npm run build, or --dist DIR)`);
  // Coverage URLs name the real path.
  const dist = fs.realpathSync(options.dist);
  const tmp = makeTempDir('reservation-path-');
  try {
    const report = await measure(options, dist, tmp);
    process.stdout.write(options.json ? JSON.stringify(report, null, 2) + '\n' : toText(report, options));
  } finally {
    if (options.keep) progress(`coverage files kept in ${path.join(tmp, 'coverage')}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
};

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
