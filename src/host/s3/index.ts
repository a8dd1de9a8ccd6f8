export { S3TargetSchema, s3Key, type S3Target, type S3TargetInput } from "./schema";
export { openS3, isNotFound, describeS3Error, unquoteEtag, type S3Store, type S3ObjectInfo } from "./client";
export {
  startUpload,
  verifyUploaded,
  type StreamingUpload,
  type UploadResult,
  type UploadVerification,
} from "./upload";
export { testS3Target, type S3ProbeResult, type S3ProbeStep } from "./probe";
