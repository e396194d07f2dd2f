/**
 * The cluster's image channels: which image revision (a named set of image inputs) each
 * netbooted node boots, and the rules that keep the table consistent. A channel names a
 * revision, never a build id: a build is made at apply time and cached on one machine, while a
 * revision is data in the inventory, so every channel's build id follows from the inventory and
 * Ely's code alone, on a fresh machine as on the one that built it.
 */
import { problem, Problem, shown } from "./problems";
import { RuleId } from "./rules";
import { ARCHES, DEFAULT_IMAGE_CHANNEL, ImageRevision, ImagesConfig, Inventory, InventoryNode, LATEST_IMAGE_CHANNEL, ROLES } from "./schema";
import { bootModeOf } from "./topology";

/** The channel a node boots: its `imageChannel`, else "stable". */
export function imageChannelOf(node: InventoryNode): string {
  return node.imageChannel ?? DEFAULT_IMAGE_CHANNEL;
}

/** The newest revision: the one "latest" boots. */
export function latestRevisionOf(images: ImagesConfig): ImageRevision {
  return images.revisions[images.revisions.length - 1];
}

/**
 * The revision a channel boots: "latest" the newest, a channel of the table the revision it
 * names, "stable" the newest unless the table pins it; undefined for an unknown channel or a
 * pin to a revision that does not exist (validateImageChannels reports both).
 */
export function revisionOfChannel(images: ImagesConfig, channel: string): ImageRevision | undefined {
  if (channel === LATEST_IMAGE_CHANNEL) return latestRevisionOf(images);
  const pinned = Object.prototype.hasOwnProperty.call(images.channels, channel) ? images.channels[channel] : undefined;
  if (pinned !== undefined) return images.revisions.find((r) => r.name === pinned);
  return channel === DEFAULT_IMAGE_CHANNEL ? latestRevisionOf(images) : undefined;
}

/** Every channel a node may name: "latest", "stable" and the table's, in that order. */
export function knownImageChannels(images: ImagesConfig): string[] {
  return [...new Set([LATEST_IMAGE_CHANNEL, DEFAULT_IMAGE_CHANNEL, ...Object.keys(images.channels)])];
}

/** The inputs of a revision's images the inventory decides: agent versions (the cluster's unless pinned) and extra packages. */
export function revisionInputsOf(inventory: Inventory, revision: ImageRevision): { versions: { consul: string; nomad: string }; extraPackages: Readonly<Record<string, readonly string[]>> } {
  return {
    versions: { consul: revision.versions?.consul ?? inventory.versions.consul, nomad: revision.versions?.nomad ?? inventory.versions.nomad },
    extraPackages: revision.extraPackages,
  };
}

/** Where a channel's workers come in a rollout: "latest" (the canary) first, then "stable", then the others by name. */
export function channelRank(channel: string): [number, string] {
  return [channel === LATEST_IMAGE_CHANNEL ? 0 : channel === DEFAULT_IMAGE_CHANNEL ? 1 : 2, channel];
}

/** The order workers reimage in: by channelRank, by hostname within a channel. */
export function reimageOrder<T extends { hostname: string; channel: string }>(entries: readonly T[]): T[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...entries].sort((a, b) => {
    const [ra, ca] = channelRank(a.channel);
    const [rb, cb] = channelRank(b.channel);
    return ra - rb || cmp(ca, cb) || cmp(a.hostname, b.hostname);
  });
}

export function validateImageChannels(inventory: Inventory): Problem[] {
  const problems: Problem[] = [];
  const error = (rule: RuleId, field: string, message: string, node?: string) => problems.push(problem(rule, { field, node }, message));
  const { images } = inventory;
  const names = images.revisions.map((r) => r.name);
  const quotedNames = names.map((n) => JSON.stringify(n)).join(", ");

  const firstAt = new Map<string, number>();
  images.revisions.forEach((revision, i) => {
    const first = firstAt.get(revision.name);
    if (first !== undefined) {
      error("ELY-IMG-001", `images.revisions[${i}].name`, `received ${shown(revision.name)}, expected a unique revision name; images.revisions[${first}] has it already`);
    } else firstAt.set(revision.name, i);
  });

  for (const [channel, revision] of Object.entries(images.channels)) {
    if (channel === LATEST_IMAGE_CHANNEL) {
      error(
        "ELY-IMG-002",
        `images.channels.${channel}`,
        `received ${shown(revision)}, expected no entry: "latest" always boots the newest revision (the last of images.revisions, ${shown(latestRevisionOf(images).name)})`,
      );
    } else if (!firstAt.has(revision)) {
      error("ELY-IMG-003", `images.channels.${channel}`, `received ${shown(revision)}, expected the name of a revision in images.revisions: ${quotedNames}`);
    }
  }

  const known = knownImageChannels(images);
  inventory.nodes.forEach((node, i) => {
    if (node.imageChannel === undefined || known.includes(node.imageChannel)) return;
    error(
      "ELY-IMG-004",
      `nodes[${i}].imageChannel`,
      `received ${shown(node.imageChannel)}, expected one of ${known.map((c) => JSON.stringify(c)).join(", ")} (a channel of images.channels, or "latest" or "stable")`,
      node.hostname,
    );
  });

  // An image is a role on an architecture that some node netboots.
  const booted = new Set(
    inventory.nodes
      .filter((n) => bootModeOf(n) === "netboot" && (ROLES as readonly string[]).includes(n.role) && (ARCHES as readonly string[]).includes(n.arch))
      .map((n) => `${n.role}-${n.arch}`),
  );
  images.revisions.forEach((revision, i) => {
    for (const image of Object.keys(revision.extraPackages)) {
      if (!booted.has(image)) {
        error(
          "ELY-IMG-005",
          `images.revisions[${i}].extraPackages.${image}`,
          `received packages for an image no netbooted node boots, expected one of ${[...booted].sort().map((k) => JSON.stringify(k)).join(", ") || "(none: no node netboots)"}`,
        );
      }
    }
  });
  return problems;
}
