// A horizontal bar chart in SVG for ranked counts (accesses per user). Sizes are SVG attributes, not
// styles, so the CSP's style-src does not apply; the numbers are also in the table beside it.

import { formatCount } from "./format.js";

const BAR_HEIGHT = 22;
const GAP = 6;
const LABEL_WIDTH = 210;
const WIDTH = 560;

export function BarChart(props: {
  readonly title: string;
  readonly items: readonly { readonly label: string; readonly value: number }[];
  readonly testId: string;
}) {
  const items = props.items;
  const max = Math.max(1, ...items.map((item) => item.value));
  const plot = WIDTH - LABEL_WIDTH - 60;
  const height = items.length * (BAR_HEIGHT + GAP) + GAP;
  const description = `${props.title}: ${items
    .map((item) => `${item.label} ${formatCount(item.value)}`)
    .join(", ")}.`;
  return (
    <figure class="chart" data-testid={props.testId}>
      <figcaption>{props.title}</figcaption>
      {items.length === 0 ? (
        <p class="empty">Nothing to chart.</p>
      ) : (
        <svg
          class="bar-chart"
          viewBox={`0 0 ${WIDTH} ${height}`}
          width="100%"
          role="img"
          aria-label={description}
          preserveAspectRatio="xMinYMin meet"
        >
          {items.map((item, i) => {
            const y = GAP + i * (BAR_HEIGHT + GAP);
            const width = Math.max(1, (item.value / max) * plot);
            const label = item.label.length > 28 ? `${item.label.slice(0, 27)}…` : item.label;
            return (
              <g key={item.label}>
                <text x={LABEL_WIDTH - 6} y={y + BAR_HEIGHT / 2} text-anchor="end" dominant-baseline="middle">
                  {label}
                </text>
                <rect x={LABEL_WIDTH} y={y} width={width} height={BAR_HEIGHT} rx={2} />
                <text x={LABEL_WIDTH + width + 6} y={y + BAR_HEIGHT / 2} dominant-baseline="middle">
                  {formatCount(item.value)}
                </text>
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}
