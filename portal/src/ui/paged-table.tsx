// A table that renders only one page of its rows, so 10,000 loaded entries cost no more to show
// than 50. Captions say which rows are shown; the pager is plain buttons (keyboard and screen-reader
// usable); on a narrow screen each row stacks into label/value pairs (styles.css, `.stack`).

import type { ComponentChildren } from "preact";
import { useEffect, useId, useState } from "preact/hooks";
import { formatCount } from "./format.js";

export interface Column<T> {
  readonly header: string;
  readonly cell: (row: T) => ComponentChildren;
  /** The row's header cell (th scope=row) instead of a data cell. */
  readonly rowHeader?: boolean;
  readonly className?: string;
}

export interface PagedTableProps<T> {
  readonly caption: string;
  readonly columns: readonly Column<T>[];
  readonly rows: readonly T[];
  readonly rowKey: (row: T) => string | number;
  /** Extra attributes on each <tr>, e.g. data-index. */
  readonly rowAttributes?: (row: T) => Record<string, string | number | undefined>;
  readonly pageSize?: number;
  readonly testId: string;
  /** Shown in place of the table when there are no rows. */
  readonly empty: string;
}

export function PagedTable<T>(props: PagedTableProps<T>) {
  const { rows, columns } = props;
  const pageSize = props.pageSize ?? 50;
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  const [page, setPage] = useState(0);
  const captionId = useId();
  // New rows (other filters, a reload) start again at the first page.
  useEffect(() => setPage(0), [rows]);
  const current = Math.min(page, pages - 1);
  const start = current * pageSize;
  const shown = rows.slice(start, start + pageSize);

  if (rows.length === 0) {
    return (
      <p class="empty" data-testid={props.testId} data-rows="0">
        {props.empty}
      </p>
    );
  }
  return (
    <div class="paged-table">
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (WCAG 2.1.1) */}
      <section class="table-scroll" aria-labelledby={captionId} tabIndex={0}>
        <table class="stack" data-testid={props.testId} data-rows={rows.length}>
          <caption id={captionId}>
            {props.caption}{" "}
            <span class="caption-range">
              ({formatCount(start + 1)}–{formatCount(start + shown.length)} of {formatCount(rows.length)})
            </span>
          </caption>
          <thead>
            <tr>
              {columns.map((column) => (
                <th
                  key={column.header}
                  scope="col"
                  class={column.className === "number" ? "number" : undefined}
                >
                  {column.header}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((row) => (
              <tr key={props.rowKey(row)} {...(props.rowAttributes?.(row) ?? {})}>
                {columns.map((column) =>
                  column.rowHeader ? (
                    <th key={column.header} scope="row" data-label={column.header} class={column.className}>
                      {column.cell(row)}
                    </th>
                  ) : (
                    <td key={column.header} data-label={column.header} class={column.className}>
                      {column.cell(row)}
                    </td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {pages > 1 ? <Pager label={props.caption} page={current} pages={pages} onPage={setPage} /> : null}
    </div>
  );
}

// aria-disabled rather than disabled: a button that disables itself when pressed (Last) would drop
// keyboard focus to the page's start.
function PagerButton(props: { label: string; text: string; off: boolean; onPress: () => void }) {
  return (
    <button
      type="button"
      aria-label={props.label}
      aria-disabled={props.off}
      onClick={() => {
        if (!props.off) props.onPress();
      }}
    >
      {props.text}
    </button>
  );
}

export function Pager(props: { label: string; page: number; pages: number; onPage: (page: number) => void }) {
  const { page, pages, onPage } = props;
  const first = page === 0;
  const last = page >= pages - 1;
  return (
    <nav class="pager" aria-label={`${props.label}: pages`}>
      <PagerButton label="First page" text="« First" off={first} onPress={() => onPage(0)} />
      <PagerButton label="Previous page" text="‹ Previous" off={first} onPress={() => onPage(page - 1)} />
      <span class="pager-position" aria-live="polite" data-testid="pager-position">
        Page {formatCount(page + 1)} of {formatCount(pages)}
      </span>
      <PagerButton label="Next page" text="Next ›" off={last} onPress={() => onPage(page + 1)} />
      <PagerButton label="Last page" text="Last »" off={last} onPress={() => onPage(pages - 1)} />
    </nav>
  );
}
