// The demo's witnesses: each audit company runs one (C2SP tlog-witness), with its own store and a
// cosigner key, serving over TLS on a free port; the node sends them its checkpoints.

import { join } from "node:path";
import type { MasterKeyProvider } from "../../crypto/keystore/index.js";
import type { Identity } from "../../identity/index.js";
import { initWitnessDir, loadCosignerKey, startWitnessServer, WitnessStore } from "../../witness/index.js";

export interface DemoWitness {
  readonly id: string;
  readonly url: string;
  readonly key: string;
  readonly store: WitnessStore;
  stop(): Promise<void>;
}

/** Starts `<company>-witness` for each company, trusting the log's key; identities from `ids`. */
export async function startDemoWitnesses(
  root: string,
  companies: readonly string[],
  ids: ReadonlyMap<string, Identity>,
  masterKey: MasterKeyProvider,
  log: { readonly origin: string; readonly verifierKey: string },
): Promise<DemoWitness[]> {
  const { origin, verifierKey } = log;
  const witnesses: DemoWitness[] = [];
  for (const company of companies) {
    const id = `${company}-witness`;
    const dir = join(root, id);
    await initWitnessDir(dir, { name: `witness.${company}.example`, masterKey });
    const store = WitnessStore.open(dir);
    store.addLogKey(origin, verifierKey);
    const tls = ids.get(id)!.tlsOptions();
    const running = await startWitnessServer({
      store,
      cosignerKey: await loadCosignerKey(dir, masterKey, store.meta),
      tls: { key: tls.key.export({ type: "pkcs8", format: "pem" }).toString(), cert: tls.cert },
    });
    witnesses.push({
      id,
      url: `https://127.0.0.1:${running.port}`,
      key: running.verifierKey,
      store,
      stop: async () => {
        await running.close();
        store.close();
      },
    });
  }
  return witnesses;
}
