// A view's <h1>, focused when the view opens so a screen reader announces where the person landed.

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

export function ViewHeading(props: { testId: string; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <h1 ref={heading} tabIndex={-1} data-testid={props.testId}>
      {props.children}
    </h1>
  );
}
