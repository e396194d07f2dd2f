/**
 * Hostile strings in every string field of the inventory and of a job: each one is either
 * refused by validation with a message naming the field, or reaches cdk.tf.json, the
 * synthesized assets and the apply-time commands only as an inert value (no Terraform
 * template, no extra line or word, no shell metacharacter in a script, manifest or command).
 */
import * as fs from "fs";
import * as path from "path";
import fc from "fast-check";
import { collectProblems } from "../cli/collect-problems";
import { ElyStack } from "../constructs";
import { ALL_JOBS, JobDefinition } from "../jobs";
import { Inventory, InventoryError, parseInventory } from "../nodes";
import { testApp } from "./helpers/synth";
import { defaultInput, LooseInput } from "./helpers/inventory";

/** Pieces that break out of a value in one of the languages the strings end up in. */
const FRAGMENTS = [
  '${file("/etc/hostname")}',
  "%{ if true }x%{ endif }",
  "\nchain http://10.0.0.1/evil",
  " ely.onfail=shell",
  "'",
  '"',
  "; touch /tmp/pwned",
  "$(id)",
  "`id`",
  "\u0000",
  "\r\n",
  "\t",
  " ",
  "\\",
  "x".repeat(5000),
  "é∂☃𝄞\u2028",
  "|| true &",
  "<script>",
];

/** The fragments every job field is tried with (each job field costs a synth). */
const TEMPLATE_AND_LINE_FRAGMENTS = FRAGMENTS.slice(0, 3);

/** A hostile value: a valid-looking start, one breaking fragment, random rest. */
const hostile = (base: string) =>
  fc
    .tuple(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 12 }), fc.boolean())
    .map(([fragment, rest, before]) => (before ? fragment + base + rest : base + fragment + rest));

type Path = (string | number)[];

/** Every string leaf (and record key, marked by a trailing "*key") of a value. */
function stringLeaves(value: unknown, at: Path = [], skip: (p: Path) => boolean = () => false): Path[] {
  if (skip(at)) return [];
  if (typeof value === "string") return [at];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringLeaves(v, [...at, i], skip));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, [...at, k], skip));
  return [];
}

function fieldName(at: Path): string {
  return at.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${p}`)).join("");
}

function setAt(root: Record<string | number, unknown>, at: Path, value: string): void {
  let o = root as Record<string | number, unknown>;
  for (const p of at.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  o[at[at.length - 1]] = value;
}

/** Every file a synth writes, by its path with content-hash segments blanked, -> its text. */
function synthesizedFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.set(path.relative(dir, full).replace(/[0-9a-fA-F]{16,}/g, "#"), fs.readFileSync(full, "utf8"));
    }
  };
  walk(dir);
  return files;
}

/** Unescaped Terraform template openers: `${` not written `$${`, `%{` not written `%%{`. */
function liveTemplates(text: string): number {
  return (text.match(/(?<!\$)\$\{/g) ?? []).length + (text.match(/(?<!%)%\{/g) ?? []).length;
}

/** The shape of a text a shell, iPXE, dnsmasq or a manifest reads: lines, words per line, metacharacters. */
function textShape(text: string): string {
  const lines = text.split("\n");
  const meta = [...";|&$`'\"<>(){}\\\u0000\r\t"].map((c) => text.split(c).length - 1).join(",");
  return `${lines.length} lines; words ${lines.map((l) => l.trim().split(/\s+/).filter(Boolean).length).join(",")}; meta ${meta}`;
}

/** What a synth leaves that a hostile value must not change the shape of. */
interface SynthShape {
  readonly liveTemplates: number;
  /** local-exec commands and their environment, by resource. */
  readonly commands: Map<string, string>;
  /** Non-JSON asset files (boot scripts, dnsmasq and nginx configuration...). */
  readonly texts: Map<string, string>;
}

function synthShape(inventory: Inventory, jobs: readonly JobDefinition[] = ALL_JOBS): SynthShape | string[] {
  const app = testApp();
  const stack = new ElyStack(app, inventory.name, { inventory, jobs });
  const { errors } = collectProblems(stack);
  if (errors.length > 0) return errors;
  app.synth();
  const files = synthesizedFiles(app.outdir);
  const tf = [...files].find(([name]) => name.endsWith("cdk.tf.json"))![1];
  const commands = new Map<string, string>();
  const resources = (JSON.parse(tf).resource ?? {}) as Record<string, Record<string, { provisioner?: { "local-exec"?: { command: string } }[] }>>;
  for (const [type, byName] of Object.entries(resources)) {
    for (const [name, resource] of Object.entries(byName)) {
      (resource.provisioner ?? []).forEach((p, i) => {
        if (p["local-exec"]) commands.set(`${type}.${name}#${i}`, textShape(p["local-exec"].command));
      });
    }
  }
  const texts = new Map([...files].filter(([name]) => !name.endsWith(".json")).map(([name, text]) => [name, textShape(text)]));
  return { liveTemplates: liveTemplates(tf), commands, texts };
}

function expectSameShape(actual: SynthShape, baseline: SynthShape): void {
  expect(actual.liveTemplates).toBe(baseline.liveTemplates);
  expect(new Map([...actual.commands].map(([k, v]) => [k.replace(/_[0-9A-F]{8}#/, "#"), v]))).toEqual(
    new Map([...baseline.commands].map(([k, v]) => [k.replace(/_[0-9A-F]{8}#/, "#"), v])),
  );
  expect(actual.texts).toEqual(baseline.texts);
}

/** The default inventory, with the optional string fields filled so that they are probed too. */
function probedInput(): LooseInput {
  const input = defaultInput();
  input.endpoints = { consul: "https://10.25.89.10:8501", nomad: "https://10.25.89.10:4646", caFile: "secrets/ca.pem" };
  input.state = { backend: "local", path: "terraform.ely.tfstate" };
  input.network.dnsServers = ["10.25.89.1"];
  input.nodes[4].meta = { rack: "top" };
  input.nodes[1].ssh = { user: "pi" };
  input.images.rollout = { sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm0fRqZ0sYQ2b2bq3c9G3m2gK8cWm3kq1bq7YbqZb0x operator@laptop"] };
  input.images.revisions[0].extraPackages = { "client-amd64": ["htop"] };
  return parseInventory(input, "baseline") as unknown as LooseInput;
}

const RUNS_PER_FIELD = Number(process.env.ELY_HOSTILE_RUNS ?? 4);

describe("hostile strings in the inventory", () => {
  const base = probedInput();
  const baseline = synthShape(base as unknown as Inventory) as SynthShape;
  const fields = stringLeaves(base, [], (p) => p[p.length - 1] === "agentOverrides");
  const keyFields: Path[] = [["nodes", 4, "meta"]];

  test("the probe covers every string field of the inventory", () => {
    const names = fields.map(fieldName);
    for (const f of ["datacenter", "region", "versions.consul", "security.secretsDir", "network.internalDomain", "nodes[4].hardware.model", "nodes[4].meta.rack", "nodes[4].hostVolumes[0].path", "dns.zones[0]", "endpoints.caFile", "state.path", "images.revisions[0].name", "images.channels.stable", "images.rollout.sshAuthorizedKeys[0]", "images.revisions[0].extraPackages.client-amd64[0]"]) {
      expect(names).toContain(f);
    }
    expect(fields.length).toBeGreaterThan(60);
  });

  test.each(fields.map((f) => [fieldName(f), f] as const))("%s: refused naming the field, or inert", (name, at) => {
    const original = String(at.reduce<unknown>((o, p) => (o as Record<string | number, unknown>)[p], base));
    fc.assert(
      fc.property(hostile(original), (value) => {
        const input = JSON.parse(JSON.stringify(base)) as LooseInput;
        setAt(input, at, value);
        let inventory: Inventory;
        try {
          inventory = parseInventory(input, "hostile.json");
        } catch (e) {
          expect(e).toBeInstanceOf(InventoryError);
          expect((e as Error).message).toContain(`field ${name}`);
          return;
        }
        const shape = synthShape(inventory);
        if (Array.isArray(shape)) {
          expect(shape.join("\n")).toContain(name.replace(/^nodes\[\d+\]\./, ""));
          return;
        }
        expectSameShape(shape, baseline);
      }),
      { numRuns: RUNS_PER_FIELD, examples: FRAGMENTS.map((f) => [original + f] as [string]) },
    );
  });

  test.each(keyFields.map((f) => [fieldName(f), f] as const))("keys of %s: refused naming the field, or inert", (name, at) => {
    fc.assert(
      fc.property(hostile("rack"), (key) => {
        const input = JSON.parse(JSON.stringify(base)) as LooseInput;
        const record = at.reduce<unknown>((o, p) => (o as Record<string | number, unknown>)[p], input) as Record<string, string>;
        record[key] = "x";
        try {
          parseInventory(input, "hostile.json");
        } catch (e) {
          expect((e as Error).message).toContain(`field ${name}.`);
          return;
        }
        const shape = synthShape(parseInventory(input, "hostile.json"));
        expect(Array.isArray(shape)).toBe(false);
        expectSameShape(shape as SynthShape, baseline);
      }),
      { numRuns: RUNS_PER_FIELD },
    );
  });
});

describe("hostile strings in a job", () => {
  const inventory = parseInventory(defaultInput(), "baseline");
  const probedJobs = ALL_JOBS.filter((j) => ["whoami", "gitea", "traefik", "registry"].includes(j.id));
  const baseline = synthShape(inventory, probedJobs) as SynthShape;
  const cases = probedJobs.flatMap((job) =>
    stringLeaves(job.props(inventory), [], (p) => p[0] === "jobOverrides" || p[0] === "driverConfig").map((at) => [`${job.id}: ${fieldName(at)}`, job, at] as const),
  );

  test("the probe covers the jobs' string fields", () => {
    const names = cases.map(([n]) => n);
    for (const f of ["whoami: image", "whoami: expose.host", "whoami: ports[0].label", "registry: templates[0].data", "gitea: volumes[0].destination"]) {
      expect(names).toContain(f);
    }
  });

  test.each(cases)("%s: refused naming the job and field, or inert", (_name, job, at) => {
    const original = String(at.reduce<unknown>((o, p) => (o as Record<string | number, unknown>)[p], job.props(inventory)));
    fc.assert(
      fc.property(hostile(original), (value) => {
        const changed: JobDefinition = {
          id: job.id,
          props: (inv) => {
            const props = JSON.parse(JSON.stringify(job.props(inv)));
            setAt(props, at, value);
            return props;
          },
        };
        const shape = synthShape(inventory, probedJobs.map((j) => (j.id === job.id ? changed : j)));
        if (Array.isArray(shape)) {
          expect(shape.join("\n")).toContain(`job ${job.id}, field ${fieldName(at)}`);
          return;
        }
        expectSameShape(shape, baseline);
      }),
      { numRuns: RUNS_PER_FIELD, examples: TEMPLATE_AND_LINE_FRAGMENTS.map((f) => [original + f] as [string]) },
    );
  });
});
