import { agentSourceFromEnv } from "../images/agents";

describe("where the Consul and Nomad binaries come from", () => {
  test("by default the official release archives", () => {
    expect(agentSourceFromEnv({ HOME: "/home/u" })).toEqual({ kind: "official" });
  });

  test("a local directory when ELY_AGENT_BIN_DIR names one (offline builds)", () => {
    expect(agentSourceFromEnv({ ELY_AGENT_BIN_DIR: "/opt/agents" })).toEqual({ kind: "dir", path: "/opt/agents" });
  });

  test("ELY_AGENT_SOURCE chooses explicitly", () => {
    expect(agentSourceFromEnv({ ELY_AGENT_SOURCE: "dir" })).toEqual({ kind: "dir", path: require("path").join(require("os").homedir(), ".cache", "ely", "bin") });
    expect(agentSourceFromEnv({ ELY_AGENT_SOURCE: "official", ELY_AGENT_BIN_DIR: "/opt/agents" })).toEqual({ kind: "official" });
  });
});
