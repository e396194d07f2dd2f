/**
 * `systemctl enable` for a root filesystem of any architecture: reads the unit's [Install]
 * section and makes the links, so no binary of the image has to run on the build machine.
 */
import * as fs from "fs";
import * as path from "path";

const UNIT_DIRS = ["etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"];

export interface InstallSection {
  readonly wantedBy: string[];
  readonly requiredBy: string[];
  readonly also: string[];
  readonly alias: string[];
}

export function parseInstallSection(unitText: string): InstallSection {
  const result: InstallSection = { wantedBy: [], requiredBy: [], also: [], alias: [] };
  let inInstall = false;
  for (const raw of unitText.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("[")) {
      inInstall = line === "[Install]";
      continue;
    }
    if (!inInstall || line.startsWith("#") || !line.includes("=")) continue;
    const [key, value] = [line.slice(0, line.indexOf("=")).trim(), line.slice(line.indexOf("=") + 1).trim()];
    const words = value.split(/\s+/).filter(Boolean);
    if (key === "WantedBy") result.wantedBy.push(...words);
    else if (key === "RequiredBy") result.requiredBy.push(...words);
    else if (key === "Also") result.also.push(...words);
    else if (key === "Alias") result.alias.push(...words);
  }
  return result;
}

/** Finds a unit in the root; returns its path inside the root ("/usr/lib/systemd/system/x.service"). */
export function findUnit(root: string, unit: string): string | undefined {
  for (const dir of UNIT_DIRS) {
    const candidate = path.join(root, dir, unit);
    if (fs.existsSync(candidate)) return "/" + path.join(dir, unit);
  }
  return undefined;
}

/** Masks `unit` in `root` as `systemctl mask` does: a link to /dev/null in /etc/systemd/system. */
export function maskUnit(root: string, unit: string): void {
  if (!/^[A-Za-z0-9:_.@-]+\.(service|socket|timer|target|mount|path)$/.test(unit)) throw new Error(`cannot mask "${unit}": expected a unit name such as apparmor.service`);
  const at = path.join(root, "etc/systemd/system", unit);
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.rmSync(at, { force: true });
  fs.symlinkSync("/dev/null", at);
}

/** Enables `unit` (and its Also= units) in `root`; throws naming a unit that does not exist. */
export function enableUnit(root: string, unit: string, seen = new Set<string>()): void {
  if (seen.has(unit)) return;
  seen.add(unit);
  const unitPath = findUnit(root, unit);
  if (!unitPath) throw new Error(`cannot enable ${unit}: no such unit in ${UNIT_DIRS.join(", ")}`);
  const install = parseInstallSection(fs.readFileSync(path.join(root, unitPath), "utf8"));
  const link = (dir: string, name: string) => {
    const at = path.join(root, "etc/systemd/system", dir, name);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.rmSync(at, { force: true });
    fs.symlinkSync(unitPath, at);
  };
  for (const target of install.wantedBy) link(`${target}.wants`, unit);
  for (const target of install.requiredBy) link(`${target}.requires`, unit);
  for (const alias of install.alias) link("", alias);
  for (const other of install.also) enableUnit(root, other, seen);
}
