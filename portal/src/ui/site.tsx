// The deployment's settings (hospital, time zone, working hours, privacy contact, witness names) for
// every view, from the config the page fetched at sign-in.

import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { type Site, siteOf } from "../lib/site.js";

const SiteContext = createContext<Site>(siteOf({ deployment: "Custos" }));

export function useSite(): Site {
  return useContext(SiteContext);
}

export function SiteProvider(props: { site: Site; children: ComponentChildren }) {
  return <SiteContext.Provider value={props.site}>{props.children}</SiteContext.Provider>;
}
