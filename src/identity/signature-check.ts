// What `custos verify` checks of the signatures inside entries (the tree and checkpoint signatures are
// the ledger verifier's): every registry entry (identity entries signed by the deployment CA, grants and
// their ends signed by an enrolled admin) and every operator action that names an identity (signed by
// that identity's key, enrolled before the action), and every legal hold placed or lifted (signed by the
// admin it names, enrolled and unrevoked at that point of the log). A log can be whole and consistent, every checkpoint
// good, and still carry an entry its operator forged: a grant no admin signed, a key rotation in an
// admin's name. The tree cannot tell; these signatures can.

import {
  decodeEntry,
  decodeHoldEntry,
  decodeIdentityEntry,
  decodeOperatorActionEntry,
  ENTRY_KINDS,
  OPERATOR_ACTIONS_LOOKUP_KEY,
  operatorIsPatient,
  patientTagOfOperator,
} from "../core/entry/index.js";
import { CustosError, ed25519Verify, toHex } from "../core/index.js";
import type { LedgerStore, StoredEntry } from "../ledger/index.js";
import { HOLDS_LOOKUP_KEY } from "../records/index.js";
import { patientSubject, REGISTRY_LOOKUP_KEY, Registry } from "./registry.js";
import { parseIdentityUri, type Role } from "./roles.js";

export interface SignatureFinding {
  readonly index: number;
  readonly problem: string;
}

export interface SignatureReport {
  readonly findings: readonly SignatureFinding[];
  readonly registryEntries: number;
  readonly operatorActions: number;
  readonly legalHolds: number;
  /**
   * Legal hold entries made before holds were signed (no admin signature, and no signed hold before
   * them in the log): read and enforced, but who placed or lifted them is named, not proven.
   */
  readonly unsignedHolds: readonly number[];
  /** Why nothing could be checked (a log with no deployment CA). */
  readonly unchecked?: string;
}

const PAGE = 10_000;

async function indexesOf(store: LedgerStore, key: Uint8Array): Promise<number[]> {
  const all: number[] = [];
  for (let from = 0; ; ) {
    const page = await store.findByLookupKey({ key, fromIndex: from, limit: PAGE });
    all.push(...page);
    if (page.length < PAGE) return all;
    from = page[page.length - 1]! + 1;
  }
}

/**
 * Checks the signatures inside registry entries and operator actions. The CA's key is the one the
 * log's first registry entry (action `ca`) states and signs with; `expectedCaKey` (from the data
 * directory's ca.pem) must match it when given.
 */
export async function checkEntrySignatures(
  store: LedgerStore,
  expectedCaKey?: Uint8Array,
): Promise<SignatureReport> {
  const registryIndexes = await indexesOf(store, REGISTRY_LOOKUP_KEY);
  const operatorIndexes = await indexesOf(store, OPERATOR_ACTIONS_LOOKUP_KEY);
  const holdIndexes = await indexesOf(store, HOLDS_LOOKUP_KEY);
  const first = registryIndexes[0];
  const counts = {
    registryEntries: registryIndexes.length,
    operatorActions: operatorIndexes.length,
    legalHolds: holdIndexes.length,
    unsignedHolds: [] as number[],
  };
  if (first === undefined) {
    return {
      findings: [],
      ...counts,
      unchecked:
        operatorIndexes.length > 0 || holdIndexes.length > 0
          ? "operator actions' and legal holds' signatures: the log has no deployment CA entry to find identities by"
          : "registry signatures: the log has no deployment CA entry",
    };
  }
  const [firstEntry] = await store.getEntriesAt([first]);
  let caKey: Uint8Array | undefined;
  try {
    const ca = decodeIdentityEntry(firstEntry!.data);
    if (ca.action === "ca" && ca.signingKey) caKey = ca.signingKey;
  } catch {
    caKey = undefined;
  }
  if (caKey === undefined) {
    return {
      findings: [{ index: first, problem: "the log's first registry entry is not the deployment CA's" }],
      ...counts,
    };
  }
  const findings: SignatureFinding[] = [];
  if (expectedCaKey !== undefined && toHex(expectedCaKey) !== toHex(caKey)) {
    findings.push({
      index: first,
      problem: "the deployment CA the log names is not the one in this data directory's ca/ca.pem",
    });
  }
  // The registry fold checks each entry's signature in log order (the CA's; a grant's admin enrolled
  // and unrevoked before it) and records what fails. Each legal hold is checked when the fold reaches
  // it, against the admins enrolled and unrevoked at that point of the log.
  const holds: StoredEntry[] = [];
  for (let i = 0; i < holdIndexes.length; i += PAGE)
    for (const stored of await store.getEntriesAt(holdIndexes.slice(i, i + PAGE)))
      if (stored) holds.push(stored);
  const registry = new Registry(caKey);
  const holdCheck = { signedSeen: false, unsigned: counts.unsignedHolds };
  let nextHold = 0;
  const checkHoldsBefore = (index: number) => {
    for (; nextHold < holds.length && holds[nextHold]!.index < index; nextHold++) {
      const hold = holds[nextHold]!;
      const problem = holdProblem(registry, hold.data, holdCheck, hold.index);
      if (problem) findings.push({ index: hold.index, problem });
    }
  };
  for (let i = 0; i < registryIndexes.length; i += PAGE) {
    for (const stored of await store.getEntriesAt(registryIndexes.slice(i, i + PAGE))) {
      if (stored === undefined) continue; // a missing entry is the ledger verifier's finding
      checkHoldsBefore(stored.index);
      registry.apply(stored.index, stored.data);
    }
  }
  checkHoldsBefore(Number.MAX_SAFE_INTEGER);
  findings.push(...registry.findings);
  if (!registry.hasCa)
    findings.push({ index: first, problem: "the CA's own entry is not signed with its key" });

  for (let i = 0; i < operatorIndexes.length; i += PAGE) {
    for (const stored of await store.getEntriesAt(operatorIndexes.slice(i, i + PAGE))) {
      if (stored === undefined) continue; // a missing entry is the ledger verifier's finding
      const problem = operatorActionProblem(registry, stored.index, stored.data);
      if (problem) findings.push({ index: stored.index, problem });
    }
  }
  findings.sort((a, b) => a.index - b.index);
  return { findings, ...counts };
}

/**
 * Why a legal hold entry's signature does not hold, or undefined when it does. An unsigned hold is
 * one made before holds were signed while no signed hold precedes it (listed in `state.unsigned`);
 * after the first signed hold of the log, the node appends none unsigned, so one is a finding.
 */
function holdProblem(
  registry: Registry,
  bytes: Uint8Array,
  state: { signedSeen: boolean; unsigned: number[] },
  index: number,
): string | undefined {
  let hold: ReturnType<typeof decodeHoldEntry>;
  try {
    if (decodeEntry(bytes).kind !== ENTRY_KINDS.legalHold) return "an entry filed as a legal hold is not one";
    hold = decodeHoldEntry(bytes);
  } catch (error) {
    return error instanceof CustosError ? `unreadable legal hold: ${error.message}` : "unreadable legal hold";
  }
  const what = `legal hold "${hold.reference}" ${hold.action === "place" ? "placed" : "lifted"}`;
  if (hold.signed === undefined) {
    if (state.signedSeen)
      return `${what} carries no admin signature, though holds before it in the log are signed (the node appends no unsigned hold)`;
    state.unsigned.push(index);
    return undefined;
  }
  state.signedSeen = true;
  let name: ReturnType<typeof parseIdentityUri>;
  try {
    name = parseIdentityUri(hold.admin);
  } catch {
    return `${what} names an admin that is not a custos:// identity URI`;
  }
  if (name.role !== "admin") return `${what} names ${hold.admin}, who is not an admin`;
  const admin = registry.identity("admin", name.id);
  if (!admin || admin.revokedAt !== undefined)
    return `${what} is signed in the name of ${hold.admin}, not an enrolled, unrevoked admin before it`;
  return ed25519Verify(admin.signingKey, hold.signed.message, hold.signed.signature)
    ? undefined
    : `${what} is not signed by ${hold.admin}'s key`;
}

/** Why an operator action's signature does not hold, or undefined when it does (or names no identity). */
function operatorActionProblem(registry: Registry, index: number, bytes: Uint8Array): string | undefined {
  let action: ReturnType<typeof decodeOperatorActionEntry>;
  try {
    if (decodeEntry(bytes).kind !== ENTRY_KINDS.operatorAction)
      return "an entry filed as an operator action is not one";
    action = decodeOperatorActionEntry(bytes);
  } catch (error) {
    return error instanceof CustosError
      ? `unreadable operator action: ${error.message}`
      : "unreadable operator action";
  }
  // A command run without an identity names the local account it ran under, and cannot sign.
  if (!action.operator.startsWith("custos://")) return undefined;
  // A finding never names a patient (older entries name them by URI, which carries their ID).
  const patient = operatorIsPatient(action.operator);
  const who = patient ? "a patient" : action.operator;
  if (!action.signed) return `operator action "${action.action}" names ${who} but carries no signature`;
  let role: Role;
  let subject: string | undefined;
  const tagged = patientTagOfOperator(action.operator);
  if (tagged !== undefined) {
    // A patient acting is named by their tag, under which they are enrolled.
    role = "patient";
    subject = patientSubject(tagged);
  } else {
    let name: ReturnType<typeof parseIdentityUri>;
    try {
      name = parseIdentityUri(action.operator);
    } catch {
      return `operator action "${action.action}" names an identity that is not a custos:// identity URI`;
    }
    role = name.role;
    // An older entry names a patient by URI: verify cannot compute their tag from the ID without the
    // blind-index key; a patient's own offline read names their trail's tag, which says who they are.
    subject =
      name.role !== "patient" ? name.id : action.patientTag ? patientSubject(action.patientTag) : undefined;
  }
  if (subject === undefined) return undefined;
  const identity = registry.identity(role, subject);
  if (!identity || identity.index > index)
    return `operator action "${action.action}" is signed in the name of ${who}, not enrolled before it`;
  const valid = ed25519Verify(identity.signingKey, action.signed.message, action.signed.signature);
  return valid ? undefined : `operator action "${action.action}" is not signed by ${who}'s key`;
}
