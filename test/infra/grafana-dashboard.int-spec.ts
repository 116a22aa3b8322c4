import fs from 'node:fs';
import path from 'node:path';

const GRAFANA = path.resolve(__dirname, '../../infra/grafana');

interface Panel {
  readonly title: string;
  readonly datasource?: { readonly uid?: string };
  readonly targets?: ReadonlyArray<{ readonly expr?: string; readonly datasource?: { readonly uid?: string } }>;
}

/** The provisioned dashboard loads (valid JSON, every panel queries the provisioned Prometheus datasource). */
describe('infra/grafana', () => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(GRAFANA, 'dashboards/live-sale.json'), 'utf8')) as { uid: string; panels: Panel[] };
  const datasourceUid = /^\s*uid:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(GRAFANA, 'provisioning/datasources/prometheus.yml'), 'utf8'))?.[1];

  it('every panel has at least one query, against the datasource the provisioning creates', () => {
    expect(datasourceUid).toBeDefined();
    expect(dashboard.panels.length).toBeGreaterThan(0);
    for (const panel of dashboard.panels) {
      expect({ panel: panel.title, queries: (panel.targets ?? []).filter((t) => (t.expr ?? '').trim() !== '').length > 0 }).toEqual({ panel: panel.title, queries: true });
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({ panel: panel.title, uid: datasourceUid });
    }
  });

  it('the dashboard provider reads the directory compose mounts the dashboards in', () => {
    const provider = fs.readFileSync(path.join(GRAFANA, 'provisioning/dashboards/flash-sale.yml'), 'utf8');
    const compose = fs.readFileSync(path.resolve(GRAFANA, '../../docker-compose.yml'), 'utf8');
    const dir = /^\s*path:\s*(\S+)\s*$/m.exec(provider)?.[1];
    expect(dir).toBeDefined();
    expect(compose).toContain(`./infra/grafana/dashboards:${dir}:ro`);
  });
});
