// Entry point of the browser portal (built by Vite into dist/portal/, served by `custos serve`).

import { render } from "preact";
import { App } from "./ui/app.js";
import "./ui/styles.css";

const root = document.getElementById("app");
if (root === null) throw new Error("the page has no #app element");
render(<App />, root);
