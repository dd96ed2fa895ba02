// The page's one vocabulary table: what each action and each purpose of use (HL7 v3 PurposeOfUse,
// http://terminology.hl7.org/ValueSet/v3-PurposeOfUse) means in plain words, and who a record names
// (display name, role, department; the user ID when the record names no one). The codes themselves are
// shown only in a row's details. Research, payment and marketing are marked: a patient most wants to
// notice those.

import type { Action } from "../../../src/core/record/vocabulary.js";
import type { AccessRow } from "./types.js";

export interface ActionWords {
  /** "viewed your record": the sentence's verb phrase, for a patient. */
  readonly patient: string;
  /** "Viewed": a short label for filters, legends and an auditor's tables. */
  readonly label: string;
}

export const ACTION_WORDS: Readonly<Record<Action, ActionWords>> = {
  query: { patient: "viewed your record", label: "Viewed" },
  create: { patient: "added to your record", label: "Added" },
  change: { patient: "changed your record", label: "Changed" },
  delete: { patient: "deleted part of your record", label: "Deleted" },
  print: { patient: "printed your record", label: "Printed" },
  copy: { patient: "copied your record", label: "Copied" },
};

export function actionWords(action: string): ActionWords {
  return ACTION_WORDS[action as Action] ?? { patient: `did "${action}" on your record`, label: action };
}

/** What a purpose stands out as: research and payment (and marketing) are not the patient's care. */
export type PurposeKind = "care" | "research" | "payment" | "marketing" | "other";

export interface PurposeWords {
  /** Follows "for": "for your treatment". */
  readonly phrase: string;
  /** One sentence for a patient. */
  readonly sentence: string;
  readonly kind: PurposeKind;
}

const purpose = (phrase: string, sentence: string, kind: PurposeKind = "other"): PurposeWords => ({
  phrase,
  sentence,
  kind,
});

export const PURPOSE_WORDS: Readonly<Record<string, PurposeWords>> = {
  TREAT: purpose("your treatment", "To treat you: the people caring for you.", "care"),
  ETREAT: purpose("emergency treatment", "To treat you in an emergency.", "care"),
  CAREMGT: purpose("managing your care", "To coordinate or manage your care.", "care"),
  BTG: purpose("an emergency (break the glass)", "An emergency access beyond the usual permissions.", "care"),
  POPHLTH: purpose("population health", "To study or improve the health of a population.", "other"),
  HPAYMT: purpose("payment", "To bill for or pay for your care (insurers, billing staff).", "payment"),
  CLMATTCH: purpose("an insurance claim", "To support a claim for payment of your care.", "payment"),
  COVAUTH: purpose("insurance approval", "To check whether your insurance covers a treatment.", "payment"),
  ELIGDTRM: purpose(
    "checking your insurance",
    "To check your eligibility for insurance or benefits.",
    "payment",
  ),
  HOPERAT: purpose(
    "hospital operations",
    "To run the hospital: scheduling, quality, administration.",
    "other",
  ),
  HQUALIMP: purpose("quality improvement", "To review and improve the quality of care.", "other"),
  HSYSADMIN: purpose("system administration", "To maintain the hospital's computer systems.", "other"),
  PATADMIN: purpose("patient administration", "For your registration, appointments or admission.", "other"),
  HRESCH: purpose("research", "For health research, not for your own care.", "research"),
  CLINTRCH: purpose("a clinical trial", "For a clinical trial, not for your own care.", "research"),
  HMARKT: purpose("marketing", "For marketing.", "marketing"),
  PUBHLTH: purpose("public health", "For public health reporting, such as notifiable diseases.", "other"),
  HLEGAL: purpose("legal reasons", "For a legal matter, such as a court order.", "other"),
  HCOMPL: purpose("compliance", "To check the hospital follows the rules it must.", "other"),
  HACCRED: purpose("accreditation", "For the hospital's accreditation.", "other"),
  PATRQT: purpose("your own request", "Because you asked for it.", "care"),
  FAMRQT: purpose("a family member's request", "Because a family member asked for it.", "other"),
  PWATRNY: purpose(
    "your power of attorney",
    "Because the person holding your power of attorney asked.",
    "other",
  ),
  SUPNWK: purpose("your support network", "Because someone in your support network asked.", "other"),
  HDIRECT: purpose("a directory listing", "For the hospital's directory of patients.", "other"),
  TRAIN: purpose("training", "To train staff.", "other"),
};

/** The words for a purpose code (case-insensitive); an unknown code is shown as given. */
export function purposeWords(code: string | undefined): PurposeWords | undefined {
  if (code === undefined || code === "") return undefined;
  return (
    PURPOSE_WORDS[code.toUpperCase()] ??
    purpose(`"${code}"`, `A purpose this page has no words for: ${code}.`, "other")
  );
}

// ---------------------------------------------------------------------------------------------------
// Who: the optional record fields that name a person (display name, role, department) and say where
// an access came from; a record without them shows the user ID.

function optionalText(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== "" ? value : undefined;
}

export interface Who {
  /** The display name, or the user ID when the record names no one. */
  readonly name: string;
  /** The user ID (always). */
  readonly userId: string;
  /** Whether `name` is a display name (not just the ID). */
  readonly named: boolean;
  /** Whether the name came from the hospital's staff directory (the record itself names no one). */
  readonly fromDirectory: boolean;
  readonly role?: string;
  readonly department?: string;
}

export function whoOf(row: AccessRow): Who {
  const { record, staff } = row;
  const own = optionalText(record.userName);
  const name = own ?? optionalText(staff?.name);
  const role = optionalText(record.userRole) ?? optionalText(staff?.role);
  const department = optionalText(record.department) ?? optionalText(staff?.department);
  return {
    name: name ?? record.userId,
    userId: record.userId,
    named: name !== undefined,
    fromDirectory: own === undefined && name !== undefined,
    ...(role ? { role } : {}),
    ...(department ? { department } : {}),
  };
}

/** Optional details a record may carry: where the access came from and what was touched. */
export function recordExtras(row: AccessRow): { label: string; value: string }[] {
  const extras: { label: string; value: string }[] = [];
  for (const [field, label] of [
    ["networkAddress", "Network address"],
    ["resourceType", "Part of the record"],
    ["resourceId", "Item"],
  ] as const) {
    const value = optionalText(row.record[field]);
    if (value) extras.push({ label, value });
  }
  return extras;
}

const searchCache = new WeakMap<AccessRow, string>();

/** Everything the loose search looks in, lower case: names, IDs, role, department, source, patient. */
export function searchText(row: AccessRow): string {
  let text = searchCache.get(row);
  if (text === undefined) {
    const { record } = row;
    text = [
      record.userId,
      record.userName,
      record.userRole,
      record.department,
      row.staff?.name,
      row.staff?.role,
      row.staff?.department,
      record.sourceSystem,
      row.patientId ?? record.patientId,
    ]
      .filter((v) => v !== undefined)
      .join("\n")
      .toLowerCase();
    searchCache.set(row, text);
  }
  return text;
}
