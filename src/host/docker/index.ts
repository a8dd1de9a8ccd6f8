export {
  docker,
  type Docker,
  type DockerConfig,
  type BuildSpec,
  type LogsOptions,
  type ExecOptions,
  type Filters,
} from "./commands";
export { dockerClient, type DockerClient, type ContainerInfo, type NetworkInfo, type ImageInfo } from "./client";
export { type ContainerSpec, type RunSpec, type Mount, type Publish, mountArg } from "./spec";
