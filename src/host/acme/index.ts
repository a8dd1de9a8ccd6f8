export { AcmeSettingsSchema, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING, type AcmeSettings } from "./settings";
export { AcmeChallengeFailed, AcmeFailed, AcmeRateLimited, fromProblem, toAcmeError, type AcmeProblem } from "./errors";
export { preflightHttp01, type PreflightOptions } from "./preflight";
export { challengeDir } from "./challenge";
export { lockFile } from "./lock";
