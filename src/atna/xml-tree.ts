// A small element tree from XML text, for audit messages: saxes checks well-formedness (XML 1.0 and
// namespaces are not needed), and this module refuses any DOCTYPE (so no entity of a DTD is ever
// defined, let alone expanded or fetched) and bounds depth, element count and attribute count, so a
// hostile message costs at most its own size.

import { SaxesParser } from "saxes";
import { CustosError } from "../core/index.js";

export interface XmlElement {
  /** The local name (any namespace prefix removed). */
  readonly name: string;
  readonly attributes: ReadonlyMap<string, string>;
  readonly children: readonly XmlElement[];
  /** The element's own text (CDATA included), its children's left out. */
  readonly text: string;
}

const MAX_DEPTH = 32;
const MAX_ELEMENTS = 5_000;
const MAX_ATTRIBUTES = 64;

const localName = (name: string) => name.slice(name.indexOf(":") + 1);

export function parseXml(text: string): XmlElement {
  const bad = (why: string) => new CustosError("BAD_ENCODING", `bad audit message XML: ${why}`);
  const parser = new SaxesParser({ position: false });
  const stack: { name: string; attributes: Map<string, string>; children: XmlElement[]; text: string }[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  let failure: CustosError | undefined;
  const fail = (error: CustosError) => {
    failure ??= error;
  };
  parser.on("doctype", () => fail(bad("a DOCTYPE is not accepted")));
  parser.on("error", () => fail(bad("it is not well-formed")));
  parser.on("opentag", (tag) => {
    if (++elements > MAX_ELEMENTS) return fail(bad(`more than ${MAX_ELEMENTS} elements`));
    if (stack.length >= MAX_DEPTH) return fail(bad(`nested deeper than ${MAX_DEPTH}`));
    const attributes = new Map<string, string>();
    const entries = Object.entries(tag.attributes as Record<string, string>);
    if (entries.length > MAX_ATTRIBUTES) return fail(bad(`an element has over ${MAX_ATTRIBUTES} attributes`));
    for (const [name, value] of entries) {
      if (name === "xmlns" || name.startsWith("xmlns:")) continue;
      attributes.set(localName(name), value);
    }
    stack.push({ name: localName(tag.name), attributes, children: [], text: "" });
  });
  const addText = (text: string) => {
    const top = stack[stack.length - 1];
    if (top) top.text += text;
  };
  parser.on("text", addText);
  parser.on("cdata", addText);
  parser.on("closetag", () => {
    const done = stack.pop();
    if (!done) return;
    const element: XmlElement = done;
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(element);
    else root = element;
  });
  try {
    parser.write(text).close();
  } catch {
    // saxes throws on the first error after emitting it; the error handler above recorded it.
    fail(bad("it is not well-formed"));
  }
  if (failure) throw failure;
  if (!root) throw bad("there is no root element");
  return root;
}
