// Accesses over time, stacked by action (uPlot), from the library's calendar buckets. uPlot draws
// series in order, so the bars are drawn as running totals from the top of the stack down, each
// opaque bar over the last. To assistive technology the chart is an image with a one-line summary,
// and its numbers are in a table beside it.

import { useEffect, useMemo, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { COUNT_STEPS, chartLayout, type TimeBuckets, timeBuckets } from "../lib/summaries.js";
import type { AccessRow } from "../lib/types.js";
import { actionWords } from "../lib/vocabulary.js";
import { formatCount, formatDate, formatTime } from "./format.js";
import { useSite } from "./site.js";

/** One colour per action, each at least 3:1 against white (WCAG 1.4.11), named in the legend. */
export const ACTION_COLORS: Readonly<Record<string, string>> = {
  create: "#0b6e4f",
  change: "#1d4ed8",
  delete: "#b91c1c",
  query: "#6d28d9",
  print: "#b45309",
  copy: "#0e7490",
};

const HEIGHT = 220;

interface Stack {
  /** Actions bottom to top. */
  readonly actions: readonly string[];
  readonly data: uPlot.AlignedData;
}

function stack(buckets: TimeBuckets): Stack {
  const actions = Object.keys(buckets.series);
  const totals: number[][] = [];
  let running = new Array<number>(buckets.starts.length).fill(0);
  for (const action of actions) {
    const counts = buckets.series[action]!;
    running = running.map((value, i) => value + (counts[i] ?? 0));
    totals.push(running);
  }
  // Top of the stack (every action) first, so each lower bar is drawn over the one above it.
  return { actions, data: [chartLayout(buckets).centers, ...totals.reverse()] };
}

/** A bucket's label as the table writes it: the date for days and longer, date and time for hours. */
function bucketLabel(unit: TimeBuckets["unit"], ms: number): string {
  return unit === "hour" ? formatTime(ms) : formatDate(ms);
}

function options(buckets: TimeBuckets, actions: readonly string[], width: number): uPlot.Options {
  // Each bar stands in the middle of its own bucket (a day's bar over that day, not at its midnight),
  // and the x axis ends where the newest bucket ends, so today's bar is drawn too.
  const layout = chartLayout(buckets);
  const bars = uPlot.paths.bars!({ size: [0.8, Number.POSITIVE_INFINITY], align: 0 });
  const startOf = (center: number) => {
    const i = layout.centers.indexOf(center);
    return i < 0 ? center * 1000 : buckets.starts[i]!;
  };
  return {
    width,
    height: HEIGHT,
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true, range: () => [layout.range[0], layout.range[1]] },
      // Headroom above the tallest bar, so it does not touch the frame; whole accesses on the axis.
      y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.08))] },
    },
    axes: [
      {
        splits: () => layout.ticks,
        values: (_u, splits) => splits.map((s) => bucketLabel(buckets.unit, s * 1000)),
      },
      {
        label: "Accesses",
        size: 56,
        incrs: [...COUNT_STEPS],
        values: (_u, splits) => splits.map((n) => formatCount(n)),
      },
    ],
    series: [
      {
        label: buckets.unit[0]!.toUpperCase() + buckets.unit.slice(1),
        value: (_u, v) => (v == null ? "" : bucketLabel(buckets.unit, startOf(v))),
      },
      ...[...actions].reverse().map((action) => ({
        label: actionWords(action).label,
        stroke: ACTION_COLORS[action] ?? "#333333",
        fill: ACTION_COLORS[action] ?? "#333333",
        width: 0,
        paths: bars,
        points: { show: false },
        // The plotted value is a running total; the legend shows this action's own count.
        value: (_u: uPlot, _v: number | null, _s: number, i: number | null) =>
          i == null ? "" : formatCount(buckets.series[action]?.[i] ?? 0),
      })),
    ],
  };
}

export function AccessChart(props: {
  readonly rows: readonly AccessRow[];
  readonly title: string;
  readonly testId: string;
}) {
  // Calendar days (hours, weeks) of the deployment's zone, whatever this browser's zone is.
  const { timeZone } = useSite();
  const buckets = useMemo(() => timeBuckets(props.rows, { zone: timeZone }), [props.rows, timeZone]);
  const container = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const element = container.current;
    if (element === null || buckets.starts.length === 0) return;
    const { actions, data } = stack(buckets);
    const width = () => Math.max(280, element.clientWidth);
    const plot = new uPlot(options(buckets, actions, width()), data, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height: HEIGHT }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [buckets]);

  const total = props.rows.length;
  const description =
    total === 0
      ? "No accesses to chart."
      : `${props.title}: ${formatCount(total)} accesses from ${formatTime(buckets.starts[0]!)}, ` +
        `one bar per ${buckets.unit} (${timeZone} time), stacked by action. The numbers are in the table after the chart.`;
  return (
    <figure
      class="chart"
      data-testid={props.testId}
      data-buckets={buckets.starts.length}
      data-unit={buckets.unit}
      data-zone={timeZone}
    >
      <figcaption>
        {props.title} (one bar per {buckets.unit}, {timeZone} time)
      </figcaption>
      {total === 0 ? (
        <p class="empty">No accesses to chart.</p>
      ) : (
        <>
          <div class="chart-plot" ref={container} role="img" aria-label={description} />
          <ChartTable buckets={buckets} title={props.title} />
        </>
      )}
    </figure>
  );
}

function ChartTable(props: { buckets: TimeBuckets; title: string }) {
  const { buckets } = props;
  const actions = Object.keys(buckets.series);
  const rows = buckets.starts
    .map((start, i) => ({ start, counts: actions.map((a) => buckets.series[a]?.[i] ?? 0) }))
    .filter((row) => row.counts.some((n) => n > 0));
  return (
    <details class="chart-table">
      <summary>Show the chart's numbers as a table</summary>
      <div class="table-scroll">
        <table>
          <caption>
            {props.title}, per {buckets.unit}
          </caption>
          <thead>
            <tr>
              <th scope="col">{buckets.unit[0]!.toUpperCase() + buckets.unit.slice(1)} starting</th>
              {actions.map((action) => (
                <th key={action} scope="col" class="number">
                  {actionWords(action).label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr
                key={row.start}
                data-start={new Date(row.start).toISOString()}
                data-total={row.counts.reduce((a, b) => a + b, 0)}
              >
                <th scope="row">{bucketLabel(buckets.unit, row.start)}</th>
                {row.counts.map((n, a) => (
                  <td key={actions[a]} class="number">
                    {formatCount(n)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}
