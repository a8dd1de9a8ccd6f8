export { assertDomain, isDomain, sanCovers } from "./domain";
export { certInfo, normalizeSerial, readCertInfo, splitPemChain, type CertInfo } from "./info";
export { validatePair, type PairInput } from "./validate";
export {
  certFiles,
  currentVersion,
  storedCertificates,
  loadCertificate,
  removeCertificate,
  saveCertificate,
  CertSource,
  type CertFiles,
  type CertListing,
  type CertMeta,
  type SaveInput,
  type StoredCertificate,
} from "./store";
export { importCertificate, ImportInput } from "./import";
export {
  daysLeft,
  domainsToRenew,
  needsRenewal,
  planRenewals,
  DEFAULT_RENEW_DAYS,
  type PlanOptions,
  type RenewalAction,
  type RenewalDecision,
  type RenewalInput,
} from "./renewal";
export {
  assertServedCertificate,
  verifyServedCertificate,
  ServedCertificateMismatch,
  type ServedCheck,
  type ServedResult,
} from "./verify";
export { serveCertificate, vhostTls, type ServeCertificateOptions } from "./serve";
