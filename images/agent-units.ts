/**
 * The Consul and Nomad systemd units, one text for every way a node gets its agents
 * (netbooted images and servers updated over ssh): Consul as its own user, Nomad leaving
 * gracefully on SIGINT (the seed's KillSignal), both restarted on failure.
 *
 * Consul tells systemd it is ready (Type=notify) only once it has joined a cluster: until then
 * its unit stays "activating", and every unit ordered after it (Nomad) waits. Servers updated
 * over ssh keep that (the rollout waits for each to join). A netbooted node starts before its
 * servers may be up, so its image's unit counts Consul started once its process runs
 * (Type=exec, `readyWhenJoined: false`): Consul retries its join by itself, Nomad starts beside it.
 */
import { CONSUL_CONFIG_DIR, CONSUL_CONFIG_FILE, NOMAD_CONFIG_DIR, NOMAD_CONFIG_FILE } from "../nodes/agent-paths";

export const AGENT_BIN_DIR = "/usr/local/bin";

export interface AgentUnitOptions {
  /** First line of the unit, saying who writes it. */
  readonly managedBy: string;
  /** Units the agent wants and starts after, besides network-online.target. Default: none. */
  readonly after?: readonly string[];
  /** Units the agent needs: it does not start when one of them failed (and starts after them). Default: none. */
  readonly requires?: readonly string[];
}

export interface ConsulUnitOptions extends AgentUnitOptions {
  /**
   * Type=notify with no start timeout: the unit is started once Consul has joined a cluster. Else
   * Type=exec: started once its process runs, joined or not. Default: true.
   */
  readonly readyWhenJoined?: boolean;
}

function ordering(after: readonly string[] = [], requires: readonly string[] = []): string {
  const wants = ["network-online.target", ...after].join(" ");
  const ordered = ["network-online.target", ...after, ...requires].join(" ");
  return `Wants=${wants}\n${requires.length ? `Requires=${requires.join(" ")}\n` : ""}After=${ordered}`;
}

/** The [Unit] section both agents share: what runs them, their ordering, and the files they need. */
function unitSection(agent: "consul" | "nomad", configFile: string, options: AgentUnitOptions): string {
  return `# ${options.managedBy}
[Unit]
Description=${agent === "consul" ? "Consul" : "Nomad"} agent
Documentation=https://developer.hashicorp.com/${agent}/docs
${ordering(options.after, options.requires)}
ConditionPathExists=${AGENT_BIN_DIR}/${agent}
ConditionFileNotEmpty=${configFile}
`;
}

export function consulUnit(options: ConsulUnitOptions): string {
  const readyWhenJoined = options.readyWhenJoined ?? true;
  return `${unitSection("consul", `${CONSUL_CONFIG_DIR}/${CONSUL_CONFIG_FILE}`, options)}
[Service]
Type=${readyWhenJoined ? "notify" : "exec"}
User=consul
Group=consul
ExecStart=${AGENT_BIN_DIR}/consul agent -config-dir=${CONSUL_CONFIG_DIR}
ExecReload=/bin/kill --signal HUP $MAINPID
KillMode=process
KillSignal=SIGTERM
Restart=on-failure
RestartSec=2
${readyWhenJoined ? "TimeoutStartSec=infinity\n" : ""}LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}

export function nomadUnit(options: AgentUnitOptions): string {
  return `${unitSection("nomad", `${NOMAD_CONFIG_DIR}/${NOMAD_CONFIG_FILE}`, options)}
[Service]
ExecStart=${AGENT_BIN_DIR}/nomad agent -config=${NOMAD_CONFIG_DIR}
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
KillSignal=SIGINT
Restart=on-failure
RestartSec=2
LimitNOFILE=65536
LimitNPROC=infinity
TasksMax=infinity
OOMScoreAdjust=-1000

[Install]
WantedBy=multi-user.target
`;
}
