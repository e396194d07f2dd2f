/**
 * Options the apply-time step programs share (server-step.ts, worker-reimage.ts), registered
 * once: how a step reaches its node over ssh, and where the agents' binaries come from.
 */
import { Command } from "commander";

/** Gathers a repeatable option's values. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** How a step reaches its node over ssh: --address (required), --user, --port, --ssh-option, and its --label. */
export function withSshOptions(command: Command): Command {
  return command
    .requiredOption("--address <ip>", "where ssh connects")
    .option("--user <user>", "ssh user", "root")
    .option("--port <port>", "ssh port", "22")
    .option("--ssh-option <option>", "an ssh -o option (repeatable)", collect)
    .option("--label <text>", "progress label");
}

/** Where the agents' binaries come from: --agents and the official archives' --pin. */
export function withAgentSourceOptions(command: Command): Command {
  return command
    .option("--agents <source>", 'binary source: "official" or "dir:<path>"; default from $ELY_AGENT_SOURCE / $ELY_AGENT_BIN_DIR')
    .option("--pin <name=sha256>", "sha256 of the official zip archive (repeatable)", collect);
}

/** A step program's commander program, named and described. */
export function stepProgram(name: string, description: string): Command {
  return new Command().name(name).description(description);
}
