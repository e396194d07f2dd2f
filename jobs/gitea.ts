import { JobDefinition } from "./job-definition";

/** git.ondy.org: web on a dynamic port, ssh on static 2222 mapped to the container's 22, data on shared storage. */
export const gitea: JobDefinition = {
  id: "gitea",
  props: () => ({
    image: "gitea/gitea:1.21.11",
    cpuMhz: 500,
    memoryMb: 512,
    ports: [
      { label: "http", to: 3000 },
      { label: "ssh", static: 2222, to: 22 },
    ],
    env: { USER_UID: "1000", USER_GID: "1000", GITEA__server__SSH_PORT: "2222", GITEA__server__ROOT_URL: "https://git.ondy.org/" },
    stateful: true,
    volumes: [{ kind: "host", source: "gitea-data", destination: "/data" }],
    checks: [
      { type: "http", port: "http", path: "/api/healthz" },
      { type: "tcp", port: "ssh" },
    ],
    update: { maxParallel: 1, autoRevert: true },
    expose: { host: "git.ondy.org", port: "http" },
  }),
};
