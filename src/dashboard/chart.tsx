/**
 * A live time-series chart over the last 15 minutes (uPlot on a canvas). The last values are also
 * written as data attributes and a legend, so they can be read without looking at pixels.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** CSS custom property holding the colour, e.g. --chart-in. */
  colorVar: string;
  values: number[];
}

const WINDOW_SECONDS = 15 * 60;

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/** Tick steps for byte axes: 1, 2, 4 … 512 times each power of 1024, so labels read 4 KiB, not 3.9 KiB. */
export const BINARY_INCREMENTS = [0, 1, 2, 3, 4].flatMap((power) => [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map((m) => m * 1024 ** power));

export function LiveChart({ id, title, times, series, format, incrs }: { id: string; title: string; times: number[]; series: ChartSeries[]; format: (n: number) => string; incrs?: number[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const formatRef = useRef(format);
  formatRef.current = format;

  // (Re)creates the plot; again when the system theme flips, for the colours.
  useEffect(() => {
    const element = box.current!;
    const create = (): void => {
      plot.current?.destroy();
      const axisColor = cssVar('--muted');
      const gridColor = cssVar('--grid');
      const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 } };
      plot.current = new uPlot(
        {
          width: Math.max(element.clientWidth, 200),
          height: 180,
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [
            { ...axis },
            {
              ...axis,
              // Wide enough for the longest label ("1,234 msg/s"): about 8 px a character.
              size: (_u, values) => Math.max(60, ...(values ?? []).map((v) => String(v).length * 8 + 16)),
              values: (_u, ticks) => ticks.map((t) => formatRef.current(t)),
              ...(incrs ? { incrs } : {}),
            },
          ],
          // The second series dashed: when in and out are equal (one subscriber each) both stay visible.
          series: [
            {},
            ...series.map((s, i) => ({ label: s.label, stroke: cssVar(s.colorVar), width: 2, ...(i > 0 ? { dash: [6, 4] } : { fill: `${cssVar(s.colorVar)}1a` }), points: { show: false } })),
          ],
        },
        [[], ...series.map(() => [])] as uPlot.AlignedData,
        element,
      );
    };
    create();
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(element.clientWidth, 200), height: 180 }));
    resize.observe(element);
    const scheme = matchMedia('(prefers-color-scheme: dark)');
    const onScheme = (): void => create();
    scheme.addEventListener('change', onScheme);
    return () => {
      resize.disconnect();
      scheme.removeEventListener('change', onScheme);
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series.length]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData([times, ...series.map((s) => s.values)] as uPlot.AlignedData, false);
    const now = times.length > 0 ? times[times.length - 1]! : Date.now() / 1000;
    u.setScale('x', { min: now - WINDOW_SECONDS, max: now });
  }, [times, series]);

  const last = (s: ChartSeries): number => s.values[s.values.length - 1] ?? 0;
  return (
    <figure class="chart" id={id} data-points={times.length} {...Object.fromEntries(series.map((s, i) => [`data-last-${i}`, String(last(s))]))}>
      <figcaption>
        <span class="chart-title">{title}</span>
        {series.map((s) => (
          <span class="legend" key={s.label}>
            <span class={`swatch ${s.colorVar.slice(2)}`} aria-hidden="true" />
            {s.label} <strong>{format(last(s))}</strong>
          </span>
        ))}
      </figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={`${title} over the last 15 minutes`} />
    </figure>
  );
}
