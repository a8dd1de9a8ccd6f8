/** The storage-against-quota text of `env get` and `policy show`. */
import { formatBytes } from "../bytes";

export interface StorageQuotaView {
  usedBytes: number;
  quotaBytes: number | null;
  exceeded: boolean;
  unknown: string | null;
}

/** An unknown size is said, never shown as a pass: with a quota, deploys wait until it is measured. */
export function storageQuotaText(s: StorageQuotaView): string {
  const used = formatBytes(s.usedBytes);
  if (s.quotaBytes === null) return s.unknown ? `${used} (${s.unknown})` : used;
  const of = `${used} of ${formatBytes(s.quotaBytes)}`;
  if (s.exceeded) return `${of} — ABOVE THE QUOTA: deploys are refused`;
  if (s.unknown) return `${of} counted — ${s.unknown}: deploys are refused until it is measured`;
  return of;
}
