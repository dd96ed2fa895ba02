// A realistic week of EHR accesses for the demo: daytime peaks, quiet nights, mostly look-ups, some
// changes, prints and copies, a few emergency (break-the-glass) accesses, mostly at night. Seeded, so
// every run tells the same story.

import type { Action } from "../../core/record/index.js";

/** One passphrase for every demo bundle; a real deployment gives each holder their own. */
export const DEMO_PASSPHRASE = "demo passphrase, not for real use";

export interface DemoRecord {
  time: string;
  patientId: string;
  userId: string;
  action: Action;
  sourceEventId: string;
  purposeOfUse?: string;
  emergency?: boolean;
  userName?: string;
  userRole?: string;
  department?: string;
}

/** Mulberry32: a tiny deterministic generator (not for secrets: only for demo data). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, weighted: readonly (readonly [T, number])[]): T {
  const total = weighted.reduce((sum, [, w]) => sum + w, 0);
  let x = random() * total;
  for (const [value, weight] of weighted) {
    x -= weight;
    if (x < 0) return value;
  }
  return weighted[weighted.length - 1]![0];
}

// Accesses per hour of the day: a morning ward round, a midday dip, an afternoon peak, quiet nights.
const HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 9, 14, 15, 13, 11, 9, 11, 13, 12, 10, 8, 6, 4, 3, 2, 2, 1];
const ACTION_WEIGHTS = [
  ["query", 62],
  ["change", 14],
  ["create", 8],
  ["print", 8],
  ["copy", 5],
  ["delete", 3],
] as const;
const PURPOSES = [
  ["TREAT", 80],
  ["HPAYMT", 8],
  ["HOPERAT", 7],
  ["HRESCH", 5],
] as const;

export const DEMO_USERS = [
  "dr.okafor",
  "dr.lindqvist",
  "dr.moreau",
  "nurse.tanaka",
  "nurse.obi",
  "nurse.kowalski",
  "clerk.reyes",
  "pharm.haddad",
  "radiology.ito",
  "billing.novak",
] as const;

/** Who the demo's users are, as the EHR names them (radiology.ito is left unnamed: the page shows the ID). */
const DEMO_STAFF: Readonly<Record<string, { userName: string; userRole: string; department: string }>> = {
  "dr.okafor": { userName: "Dr Ngozi Okafor", userRole: "Cardiologist", department: "Cardiology" },
  "dr.lindqvist": { userName: "Dr Erik Lindqvist", userRole: "Physician", department: "Internal Medicine" },
  "dr.moreau": { userName: "Dr Camille Moreau", userRole: "Surgeon", department: "General Surgery" },
  "nurse.tanaka": { userName: "Yuki Tanaka", userRole: "Nurse", department: "Cardiology" },
  "nurse.obi": { userName: "Chidi Obi", userRole: "Nurse", department: "Emergency" },
  "nurse.kowalski": { userName: "Anna Kowalski", userRole: "Nurse", department: "Internal Medicine" },
  "clerk.reyes": { userName: "Marco Reyes", userRole: "Ward clerk", department: "Admissions" },
  "pharm.haddad": { userName: "Layla Haddad", userRole: "Pharmacist", department: "Pharmacy" },
  "billing.novak": { userName: "Petra Novak", userRole: "Billing officer", department: "Finance" },
};

/** `count` accesses over the `days` days before `end`, spread over the patients with some skew. */
export function demoAccesses(
  patients: readonly string[],
  count: number,
  end: number,
  days = 7,
): DemoRecord[] {
  const random = seeded(20261123);
  const dayMs = 86_400_000;
  // Days start at midnight UTC, so the hour weights are hours of the (UTC) day.
  const start = Math.floor((end - days * dayMs) / dayMs) * dayMs;
  const patientWeights = patients.map((p, i) => [p, 5 - (i % 5)] as const);
  const hourWeights = HOUR_WEIGHTS.map((w, h) => [h, w] as const);
  const records: DemoRecord[] = [];
  for (let i = 0; i < count; i++) {
    const day = Math.floor(random() * days);
    const hour = pick(random, hourWeights);
    const time = start + day * dayMs + hour * 3_600_000 + Math.floor(random() * 3_600_000);
    if (time >= end) continue;
    const night = hour < 6 || hour >= 22;
    const emergency = random() < (night ? 0.05 : 0.006);
    const action = pick(random, ACTION_WEIGHTS);
    const patientId = pick(random, patientWeights);
    const userId =
      DEMO_USERS[Math.floor(random() * (action === "print" || action === "copy" ? 3 : DEMO_USERS.length))]!;
    records.push({
      time: new Date(time).toISOString(),
      patientId,
      userId,
      ...DEMO_STAFF[userId],
      action,
      sourceEventId: `ehr-${(100_000 + i).toString(36)}`,
      purposeOfUse: emergency ? "ETREAT" : pick(random, PURPOSES),
      ...(emergency ? { emergency: true } : {}),
    });
  }
  return records.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
}
