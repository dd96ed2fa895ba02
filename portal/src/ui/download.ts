// Saves a file the page made (an export) without it ever leaving the browser: a Blob URL (allowed by
// the CSP's blob:) on a temporary link, revoked once the download has started.

import type { ExportFile } from "../lib/exports.js";

export function downloadFile(file: ExportFile): void {
  const url = URL.createObjectURL(new Blob([file.text], { type: file.mimeType }));
  const link = document.createElement("a");
  link.href = url;
  link.download = file.filename;
  link.rel = "noopener";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
