import { CommandIo } from './command';
import { progressBar, renderProgress } from './progress';

/** A stderr that records what is written to it; only `write` and `isTTY` are used. */
const fakeStderr = (isTTY: boolean) => {
  const written: string[] = [];
  const stream = { isTTY, write: (s: string) => written.push(s) > 0 } as unknown as CommandIo['stderr'];
  return { written, stream };
};

describe('progress on stderr', () => {
  it('renders a bar, the share done, the counts and the rate', () => {
    expect(renderProgress('verify', { events: 500, position: 500 }, 1000, 2000, 10)).toBe('verify [#####·····]  50%  500 events  250 ev/s');
    expect(renderProgress('export', { events: 0, position: 0 }, 0, 0, 4)).toBe('export [####] 100%  0 events  0 ev/s');
  });

  it('takes the share done from positions, so sparse positions (log offsets) still show it right', () => {
    // 30 events read through position 7,500 of a log whose last position is 10,000: 75 %, 30 events.
    expect(renderProgress('verify', { events: 30, position: 7500 }, 10_000, 1000, 4)).toBe('verify [###·]  75%  30 events  30 ev/s');
  });

  it('draws on a terminal, at most every 100 ms, and ends the line when finished', () => {
    const { written, stream } = fakeStderr(true);
    let now = 0;
    const bar = progressBar({ stderr: stream, env: {} }, 'verify', 100, () => now);
    bar.update(10, 10);
    now = 50;
    bar.update(20, 20); // too soon to redraw
    now = 150;
    bar.update(30, 30);
    bar.finish();
    expect(written).toHaveLength(4);
    expect(written[1]).toContain(' 30%  30 events');
    expect(written[3]).toBe('\n');
  });

  it('stays silent when stderr is not a terminal', () => {
    const { written, stream } = fakeStderr(false);
    const bar = progressBar({ stderr: stream, env: {} }, 'verify', 100);
    bar.update(50, 50);
    bar.finish();
    expect(written).toEqual([]);
  });
});
