import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { eventually } from '../../support/eventually';
import { freePort } from '../../support/free-port';

/**
 * infra/nginx as shipped, run by Debian's nginx (`.ci/run` installs it) in front of api replicas of the test's own, as
 * docker compose would run it. Only the replica addresses (compose's `api`, which resolves to each replica), the listen
 * port, the pid file and the directories are rewritten for this machine.
 */

const REPO = path.resolve(__dirname, '../../..');
export const NGINX = '/usr/sbin/nginx';
export const hasNginx = { what: 'nginx (Debian package nginx)', available: () => fs.existsSync(NGINX) };

/** The compose service `api`, which resolves to every replica: here, servers of the test's own. */
const REPLICAS = 'server api:3000 max_fails=3 fail_timeout=5s;';
/** The same replicas as backups, never marked down (infra/nginx/nginx.conf says why). */
const BACKUPS = 'server api:3000 backup max_fails=0;';

export interface RenderedEdge {
  readonly dir: string;
  readonly conf: string;
  readonly port: number;
  /** The access log (infra/nginx's `json` format), one line per request. */
  readonly accessLog: string;
}

/** infra/nginx with this machine's addresses in place of the compose service names: `replicas` are loopback ports. */
export const renderEdge = (listen: number, replicas: readonly number[]): RenderedEdge => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nginx-edge-'));
  const snippets = path.join(dir, 'flash-sale');
  fs.cpSync(path.join(REPO, 'infra/nginx/flash-sale'), snippets, { recursive: true });
  const shipped = fs.readFileSync(path.join(REPO, 'infra/nginx/nginx.conf'), 'utf8');
  const accessLog = path.join(dir, 'access.log');
  const conf = shipped
    .replaceAll(REPLICAS, replicas.map((port) => `server 127.0.0.1:${port} max_fails=3 fail_timeout=5s;`).join('\n    '))
    .replaceAll(BACKUPS, replicas.map((port) => `server 127.0.0.1:${port} backup max_fails=0;`).join('\n    '))
    .replace('listen 80 reuseport', `listen 127.0.0.1:${listen} reuseport`)
    .replace('pid /run/nginx.pid;', `pid ${dir}/nginx.pid;`)
    .replaceAll('/etc/nginx/flash-sale/', `${snippets}/`)
    .replaceAll('/usr/share/nginx/sale-page', path.join(REPO, 'apps/web-static'))
    .replace('access_log /dev/stdout json;', `access_log ${accessLog} json;`);
  for (const [what, from] of [
    ['listen', 'listen 80 reuseport'],
    ['pid', 'pid /run/nginx.pid;'],
    ['replicas', REPLICAS],
    ['backups', BACKUPS],
  ] as const) {
    if (!shipped.includes(from)) throw new Error(`infra/nginx/nginx.conf changed: its ${what} ("${from}") is no longer where this test rewrites it`);
  }
  const file = path.join(dir, 'nginx.conf');
  // Temp paths inside the test's directory: no write outside it.
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  fs.writeFileSync(file, conf.replace('http {\n', `http {\n${temps}\n`));
  return { dir, conf: file, port: listen, accessLog };
};

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request on a connection of its own from a client address of our choosing (any 127.0.0.0/8 address is this machine). */
export const requestFrom = (
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string; from?: string },
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {}, localAddress: options.from ?? '127.0.0.1', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });

/** One line of the edge's access log: which replica (`upstream`, `host:port[, host:port]` when retried) answered what. */
export interface AccessLine {
  readonly requestId: string;
  readonly method: string;
  readonly uri: string;
  readonly status: number;
  readonly upstream: string;
  readonly upstreamStatus: string;
}

/** nginx running infra/nginx in front of `replicas` until `stop`. */
export class NginxEdge {
  private child: ChildProcess | undefined;
  private stderr = '';
  rendered: RenderedEdge = { dir: '', conf: '', port: 0, accessLog: '' };

  get port(): number {
    return this.rendered.port;
  }

  /** Renders the config on a free port and starts nginx; resolves once it answers (anything, even a refusal). */
  async start(replicas: readonly number[]): Promise<void> {
    this.rendered = renderEdge(await freePort(), replicas);
    const child = spawn(NGINX, ['-c', this.rendered.conf, '-p', this.rendered.dir, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    await eventually('nginx answers on its port', async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${this.stderr}`);
      return (await requestFrom(this.port, { path: '/health/live' }).catch(() => undefined)) !== undefined;
    });
  }

  /** What nginx wrote to its error log (stderr) so far. */
  get errors(): string {
    return this.stderr;
  }

  /** The access log so far, parsed. */
  accessLines(): AccessLine[] {
    if (!fs.existsSync(this.rendered.accessLog)) return [];
    return fs
      .readFileSync(this.rendered.accessLog, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as AccessLine);
  }

  /** SIGQUIT (a graceful stop), then removes its directory. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await exited;
    }
    if (this.rendered.dir !== '') fs.rmSync(this.rendered.dir, { recursive: true, force: true });
  }
}
