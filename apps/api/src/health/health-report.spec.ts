import { down, downSummary, healthReport, up } from './health-report';

describe('healthReport (the @nestjs/terminus shape)', () => {
  it('is ok with every indicator in info and details when all are up', () => {
    const report = healthReport({ store: up({ head: 7 }), gate: up() });
    expect(report).toEqual({
      status: 'ok',
      info: { store: { status: 'up', head: 7 }, gate: { status: 'up' } },
      error: {},
      details: { store: { status: 'up', head: 7 }, gate: { status: 'up' } },
    });
  });

  it('is an error naming each down indicator in error, the up ones staying in info, all in details', () => {
    const report = healthReport({ store: up({ head: 7 }), gate: down('unreachable'), projections: down('catching up', { lagEvents: 3 }) });
    expect(report.status).toBe('error');
    expect(Object.keys(report.info)).toEqual(['store']);
    expect(report.error).toEqual({ gate: { status: 'down', message: 'unreachable' }, projections: { status: 'down', message: 'catching up', lagEvents: 3 } });
    expect(Object.keys(report.details)).toEqual(['store', 'gate', 'projections']);
    expect(downSummary(report)).toBe('not ready: gate (unreachable), projections (catching up)');
  });

  it('keeps the status an indicator was given over a detail of the same name', () => {
    expect(up({ status: 'down' }).status).toBe('up');
    expect(down('x', { status: 'up' }).status).toBe('down');
  });
});
