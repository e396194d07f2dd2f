import { CnameRecord } from "@cdktf/provider-dns/lib/cname-record";
import { DnsProvider } from "@cdktf/provider-dns/lib/provider";
import { Job } from "@cdktf/provider-nomad/lib/job";
import { ElyStack, escapeTerraformTemplate } from "../constructs";
import { ALL_JOBS, JobDefinition, NomadServiceProps, scrapeConfig } from "../jobs";
import { Inventory } from "../nodes";
import { defaultInventory, inventoryWith } from "./helpers/inventory";
import { stackOf, synthOf, testApp, validationErrorsOf } from "./helpers/synth";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const stack = stackOf();
function job(name: string): Json {
  const service = stack.services.services.find((s) => s.name === name);
  if (!service) throw new Error(`no job ${name}`);
  return service.jobJson.Job;
}
const group = (name: string): Json => job(name).TaskGroups[0];
const task = (name: string): Json => group(name).Tasks[0];
const service = (name: string): Json => group(name).Services[0];

function stackWithJobs(jobs: JobDefinition[], inventory: Inventory = defaultInventory()): ElyStack {
  return new ElyStack(testApp(), inventory.name, { inventory, jobs });
}
function jobDef(id: string, props: NomadServiceProps): JobDefinition {
  return { id, props: () => props };
}
const errorsWith = (jobs: JobDefinition[], inventory?: Inventory) => validationErrorsOf(stackWithJobs(jobs, inventory));

describe("every service of the seed, as a rendered Nomad job", () => {
  test("one nomad_job per service, in JSON, with the jobspec escaped for Terraform", () => {
    const synthesized = synthOf(stack);
    const jobs = JSON.parse(synthesized).resource.nomad_job as Record<string, Json>;
    expect(Object.keys(jobs)).toHaveLength(ALL_JOBS.length);
    expect(synthesized).toHaveResourceWithProperties(Job, { json: true, detach: true, purge_on_destroy: true });
    const web = Object.values(jobs).find((j) => j.jobspec.includes('"ID": "kyleondy-web"'))!;
    expect(web.jobspec).toContain('"Attribute": "$${node.unique.id}"');
    expect(escapeTerraformTemplate("${a} %{b} $x")).toBe("$${a} %%{b} $x");
  });

  test("kyleondy-web: count 3 spread over nodes, canary with auto_revert, port web->80, HTTP check on /", () => {
    expect(group("kyleondy-web").Count).toBe(3);
    expect(job("kyleondy-web").Spreads).toEqual([{ Attribute: "${node.unique.id}", Weight: 100 }]);
    expect(job("kyleondy-web").Update).toMatchObject({ Canary: 1, AutoRevert: true, AutoPromote: true, MaxParallel: 1, HealthCheck: "checks" });
    expect(group("kyleondy-web").Networks).toEqual([{ DynamicPorts: [{ Label: "web", To: 80 }] }]);
    expect(service("kyleondy-web").Checks).toEqual([
      { Name: "kyleondy-web-http-web", Type: "http", PortLabel: "web", Path: "/", Interval: 10e9, Timeout: 2e9 },
    ]);
    expect(service("kyleondy-web").Tags).toContain("traefik.http.routers.kyleondy-web.rule=Host(`www.kyleondy.com`)");
  });

  test("gitea: http on a dynamic port to 3000, ssh on static 2222 mapped to the container's 22, persistent data", () => {
    expect(group("gitea").Networks[0]).toEqual({
      DynamicPorts: [{ Label: "http", To: 3000 }],
      ReservedPorts: [{ Label: "ssh", Value: 2222, To: 22 }],
    });
    expect(group("gitea").Volumes).toEqual({ "gitea-data": { Name: "gitea-data", Type: "host", Source: "gitea-data", ReadOnly: false } });
    expect(task("gitea").VolumeMounts).toEqual([{ Volume: "gitea-data", Destination: "/data", ReadOnly: false }]);
    expect(service("gitea").PortLabel).toBe("http");
    expect(service("gitea").Tags).toContain("traefik.http.routers.gitea.rule=Host(`git.ondy.org`)");
  });

  test("registry: htpasswd from the job's Nomad variable, persistent data, routable", () => {
    expect(task("registry").Templates).toEqual([
      { DestPath: "secrets/htpasswd", EmbeddedTmpl: '{{ with nomadVar "nomad/jobs/registry" }}{{ .htpasswd }}{{ end }}\n', ChangeMode: "restart", Envvars: false },
    ]);
    expect(task("registry").Env).toMatchObject({ REGISTRY_AUTH: "htpasswd", REGISTRY_AUTH_HTPASSWD_PATH: "/secrets/htpasswd" });
    expect(group("registry").Volumes["registry-data"].Source).toBe("registry-data");
    expect(service("registry").Tags).toContain("traefik.enable=true");
  });

  test("traefik: a system job on the host network, exposedByDefault=false, http->https, ACME state on persistent storage", () => {
    expect(job("traefik").Type).toBe("system");
    expect(task("traefik").Config.network_mode).toBe("host");
    expect(group("traefik").Networks[0].ReservedPorts).toEqual([
      { Label: "web", Value: 80 },
      { Label: "websecure", Value: 443 },
      { Label: "admin", Value: 8081 },
    ]);
    const args = task("traefik").Config.args as string[];
    expect(args).toContain("--providers.consulcatalog.exposedbydefault=false");
    expect(args).toContain("--entrypoints.web.http.redirections.entrypoint.to=websecure");
    expect(args).toContain("--certificatesresolvers.letsencrypt.acme.storage=/acme/acme.json");
    expect(task("traefik").VolumeMounts).toEqual([{ Volume: "traefik-acme", Destination: "/acme", ReadOnly: false }]);
    expect(service("traefik").Tags).toEqual([]);
  });

  test("prometheus scrapes the Nomad and Consul endpoints of every node, and node-exporter on every client", () => {
    const config = scrapeConfig(defaultInventory());
    expect(task("prometheus").Templates[0]).toMatchObject({ DestPath: "local/prometheus.yml", EmbeddedTmpl: config });
    for (const ip of ["10.25.89.10", "10.25.89.20", "10.25.89.30", "10.25.89.21", "10.25.89.22", "10.25.89.23"]) {
      expect(config).toContain(`${ip}:4646`);
      expect(config).toContain(`${ip}:8501`);
    }
    expect(config).toContain("10.25.89.4:8501");
    expect(config).not.toContain("10.25.89.4:4646");
    for (const ip of ["10.25.89.21", "10.25.89.22", "10.25.89.23"]) expect(config).toContain(`${ip}:9100`);
    expect(config).not.toContain("10.25.89.10:9100");
  });

  test("node-exporter is a system job; whoami is the three-replica smoke test; ddns runs every five minutes", () => {
    expect(job("node-exporter").Type).toBe("system");
    expect(group("node-exporter").Networks[0].ReservedPorts).toEqual([{ Label: "metrics", Value: 9100 }]);
    expect(group("whoami").Count).toBe(3);
    expect(job("ddns")).toMatchObject({ Type: "batch", Periodic: { Enabled: true, SpecType: "cron", Spec: "*/5 * * * *", ProhibitOverlap: true } });
    const script = task("ddns").Templates[0].EmbeddedTmpl as string;
    expect(script).toContain("host=home&domain=ondy.org&password=$DDNS_PASSWORD");
    expect(task("ddns").Templates[1]).toMatchObject({ DestPath: "secrets/ddns.env", Envvars: true });
  });

  test("no secret value in any job: credentials are read from Nomad variables at run time", () => {
    // NAME=value settings (templates, args) whose name says secret, in every job's JSON text.
    const settings = stack.services.services.flatMap((s) =>
      [...JSON.stringify(s.jobJson).matchAll(/([A-Z_]*(?:PASSWORD|SECRET|TOKEN)[A-Z_]*)=([^\\\n"]*)/g)].map((m) => ({ job: s.name, name: m[1], value: m[2] })),
    );
    // The loop below checks something: the credentials the default jobs are known to need are among them.
    expect(settings.map((x) => `${x.job} ${x.name}`)).toEqual(expect.arrayContaining(["ddns DDNS_PASSWORD", "traefik TRAEFIK_PROVIDERS_CONSULCATALOG_ENDPOINT_TOKEN"]));
    for (const x of settings) expect(x).toEqual({ ...x, value: expect.stringMatching(/^\{\{ with nomadVar/) });
    // Env is a map (no "="): a secret-named variable has no place there, its value would be in the job.
    const envNames = stack.services.services.flatMap((s) =>
      (s.jobJson.Job.TaskGroups as Json[]).flatMap((g: Json) => (g.Tasks as Json[]).flatMap((t: Json) => Object.keys(t.Env ?? {}).map((k) => `${s.name} ${k}`))),
    );
    expect(envNames.length).toBeGreaterThan(0);
    expect(envNames.filter((n) => /PASSWORD|SECRET|TOKEN/.test(n))).toEqual([]);
  });

  test("all jobs, as a snapshot (complements the assertions above)", () => {
    expect(Object.fromEntries(stack.services.services.map((s) => [s.name, s.jobJson]))).toMatchSnapshot();
  });
});

describe("what follows from expose", () => {
  const plain: NomadServiceProps = { image: "nginx:1", ports: [{ label: "http", to: 80 }] };

  test("adding expose adds the route tags and the public DNS record", () => {
    const rfc2136 = inventoryWith((i) => (i.dns = { provider: "rfc2136", server: "127.0.0.1", keyName: "ely", ingressName: "home.example.org", zones: ["example.org"] }));
    const without = stackWithJobs([jobDef("site", plain)], rfc2136);
    const withIt = stackWithJobs([jobDef("site", { ...plain, expose: { host: "www.example.org", path: "/blog" } })], rfc2136);
    expect(without.services.services[0].jobJson.Job.TaskGroups).toEqual([expect.objectContaining({ Services: [expect.objectContaining({ Tags: [] })] })]);
    expect(synthOf(without)).not.toHaveResource(CnameRecord);
    const tags = (withIt.services.services[0].jobJson.Job as Json).TaskGroups[0].Services[0].Tags;
    expect(tags).toEqual([
      "traefik.enable=true",
      "traefik.http.routers.site.rule=Host(`www.example.org`) && PathPrefix(`/blog`)",
      "traefik.http.routers.site.entrypoints=websecure",
      "traefik.http.routers.site.tls=true",
      "traefik.http.routers.site.tls.certresolver=letsencrypt",
    ]);
    const synthesized = synthOf(withIt);
    expect(synthesized).toHaveResourceWithProperties(CnameRecord, { zone: "example.org.", name: "www", cname: "home.example.org.", ttl: 300 });
    expect(synthesized).toHaveProviderWithProperties(DnsProvider, {
      update: [{ server: "127.0.0.1", port: 53, key_name: "ely.", key_algorithm: "hmac-sha256", key_secret: "${var.dns_tsig_secret}" }],
    });
    expect(JSON.parse(synthesized).variable.dns_tsig_secret).toMatchObject({ sensitive: true });
  });

  test("Namecheap: one MERGE record set per zone, API key as a sensitive variable", () => {
    const j = JSON.parse(synthOf(stack));
    const sets = Object.values(j.resource.namecheap_domain_records as Record<string, Json>);
    expect(sets.map((s) => s.domain).sort()).toEqual(["509ely.com", "kyleondy.com", "ondy.org"]);
    const kyleondy = sets.find((s) => s.domain === "kyleondy.com")!;
    expect(kyleondy).toMatchObject({ mode: "MERGE", record: [{ hostname: "www", type: "CNAME", address: "home.ondy.org.", ttl: 300 }] });
    expect(j.provider.namecheap[0]).toMatchObject({ api_key: "${var.namecheap_api_key}" });
    expect(j.terraform.required_providers.namecheap).toEqual({ source: "namecheap/namecheap", version: "2.2.0" });
  });

  test("no DNS provider: no record and no DNS variable", () => {
    const j = JSON.parse(synthOf(stackOf(inventoryWith((i) => (i.dns = { provider: "none" })))));
    expect(j.resource.namecheap_domain_records).toBeUndefined();
    expect(Object.keys(j.variable).filter((v) => /dns|namecheap/.test(v))).toEqual([]);
  });

  test("the public ingress name outside every zone is an error", () => {
    const inventory = inventoryWith((i) => (i.dns.ingressName = "home.elsewhere.net"));
    expect(errorsWith([], inventory)).toContain('error ELY-DNS-001: field dns.ingressName: received "home.elsewhere.net", expected a name inside one of the zones kyleondy.com, ondy.org, 509ely.com');
  });

  test("a host outside every zone, or at a zone apex, is an error naming the job", () => {
    const errors = errorsWith([
      jobDef("a", { ...plain, expose: { host: "www.elsewhere.net" } }),
      jobDef("b", { ...plain, expose: { host: "kyleondy.com" } }),
    ]);
    expect(errors).toContain('error ELY-DNS-002: job a, field expose.host: received "www.elsewhere.net", expected a host inside one of the DNS zones (kyleondy.com, ondy.org, 509ely.com)');
    expect(errors).toContain('error ELY-DNS-003: job b, field expose.host: received "kyleondy.com", the apex of zone kyleondy.com; expected a name below it (a CNAME cannot sit at a zone apex)');
  });
});

describe("placement checks at synth", () => {
  const small: NomadServiceProps = { image: "nginx:1", cpuMhz: 100, memoryMb: 64 };

  test("the default jobs fit the default cluster", () => {
    expect(validationErrorsOf(stack)).toEqual([]);
  });

  test("a job larger than any client names the job and the clients", () => {
    const errors = errorsWith([jobDef("huge", { ...small, memoryMb: 40000 })]);
    expect(errors).toEqual([
      "error ELY-PLC-006: job huge: received one allocation asking for 100 MHz CPU and 40000 MB memory, expected it to fit a client after 10% headroom (w1 5400 MHz/29491 MB, w2 5400 MHz/29491 MB, w3 5400 MHz/29491 MB)",
    ]);
  });

  test("a job whose allocations together exceed its clients' capacity", () => {
    const errors = errorsWith([jobDef("many", { ...small, count: 10, memoryMb: 10000 })]);
    expect(errors).toContain(
      "error ELY-PLC-007: job many: received 10 allocations asking for 1000 MHz CPU and 100000 MB memory, expected at most what its clients w1, w2, w3 offer after 10% headroom: 16200 MHz and 88473 MB",
    );
  });

  test("jobs that fit one by one but not together are reported in total", () => {
    const errors = errorsWith([jobDef("a", { ...small, count: 3, memoryMb: 16000 }), jobDef("b", { ...small, count: 3, memoryMb: 16000 })]);
    expect(errors).toEqual([
      "error ELY-PLC-011: all jobs: received 2 jobs asking for 600 MHz CPU and 96000 MB memory in total, expected at most what the clients offer after 10% headroom: 16200 MHz and 88473 MB",
    ]);
  });

  test("jobs that fit every client but not while a worker reimages: images.rollout.maxUnavailable is named", () => {
    const errors = errorsWith([jobDef("a", { ...small, count: 3, memoryMb: 20000 })]);
    expect(errors).toEqual([
      "error ELY-PLC-012: field images.rollout.maxUnavailable: received 1, expected the clients that stay up while 1 worker reimages to hold the service and batch jobs: " +
        "they ask for 300 MHz CPU and 60000 MB memory, and without w1 the clients offer 10800 MHz and 58982 MB after 10% headroom " +
        "(images.rollout.allowJobDowntime: true accepts that they wait during a reimage)",
    ]);
    // The operator accepts that the jobs wait while a worker reimages (a lab with one worker): no problem at plan.
    expect(errorsWith([jobDef("a", { ...small, count: 3, memoryMb: 20000 })], inventoryWith((i) => (i.images.rollout = { allowJobDowntime: true })))).toEqual([]);
    // With every client out at once nothing could hold them: the rule leaves that to the program's refusal.
    expect(errorsWith([jobDef("a", { ...small, count: 3, memoryMb: 20000 })], inventoryWith((i) => (i.images.rollout = { maxUnavailable: 3 })))).toEqual([]);
  });

  test("two jobs claiming the same static port on the same nodes name both", () => {
    const errors = errorsWith([
      jobDef("ssh-a", { ...small, ports: [{ label: "ssh", static: 2222 }] }),
      jobDef("ssh-b", { ...small, ports: [{ label: "ssh", static: 2222 }], constraints: [{ attribute: "${node.unique.name}", value: "w2" }] }),
    ]);
    expect(errors).toEqual(["error ELY-PLC-009: job ssh-b, field ports: received static port 2222 on w2, expected each static port to belong to one job per node; job ssh-a claims it there"]);
  });

  test("the same static port on disjoint nodes is fine", () => {
    expect(
      errorsWith([
        jobDef("a", { ...small, ports: [{ label: "p", static: 7000 }], constraints: [{ attribute: "${node.unique.name}", value: "w1" }] }),
        jobDef("b", { ...small, ports: [{ label: "p", static: 7000 }], constraints: [{ attribute: "${node.unique.name}", operator: "!=", value: "w1" }] }),
      ]),
    ).toEqual([]);
  });

  test("more allocations of a static port than eligible clients", () => {
    expect(errorsWith([jobDef("a", { ...small, count: 4, ports: [{ label: "p", static: 7000 }] })])).toEqual([
      "error ELY-PLC-008: job a, field ports: received 4 allocations each needing static port 7000, expected at most one per client (3 eligible clients: w1, w2, w3)",
    ]);
  });

  test("duplicate exposed hosts", () => {
    const web = { ...small, ports: [{ label: "http" }] };
    expect(errorsWith([jobDef("a", { ...web, expose: { host: "www.kyleondy.com" } }), jobDef("b", { ...web, expose: { host: "WWW.kyleondy.com" } })])).toEqual([
      'error ELY-PLC-010: job b, field expose.host: received "www.kyleondy.com", expected a host not exposed already; job a exposes it',
    ]);
  });

  test("a volume no client provides", () => {
    expect(errorsWith([jobDef("a", { ...small, volumes: [{ kind: "host", source: "media", destination: "/media" }] })])).toEqual([
      'error ELY-PLC-002: job a, field volumes[0].source: received "media", expected a host volume some client provides (gitea-data, prometheus-data, registry-data, scratch, traefik-acme)',
    ]);
  });

  test("a stateful job whose host volume is in RAM names the job, the volume and each node", () => {
    const ramScratch = errorsWith([jobDef("db", { ...small, stateful: true, volumes: [{ kind: "host", source: "scratch", destination: "/data" }] })]);
    expect(ramScratch).toEqual(
      ["w1", "w2", "w3"].map(
        (n) =>
          `error ELY-PLC-005: job db, field volumes[0].source: received host volume "scratch" on node ${n} (/mnt/scratch) is on RAM, lost at every reboot, expected "nfs" or "local" storage: job db is stateful and its data must survive a reboot`,
      ),
    );
    // The same volume is fine for a job that keeps nothing.
    expect(errorsWith([jobDef("cache", { ...small, volumes: [{ kind: "host", source: "scratch", destination: "/data" }] })])).toEqual([]);
  });

  test("a stateful job on a scratch disk (reformatted at every boot) is refused on that node only", () => {
    const inventory = inventoryWith((i) => {
      i.nodes[4].hardware.disks = [{ device: "nvme0n1", sizeGb: 1000, kind: "nvme", serial: "S1", scratchMountPoint: "/mnt/scratch" }];
      for (const n of i.nodes.slice(4)) n.hostVolumes = [...n.hostVolumes.filter((v: { name: string }) => v.name !== "gitea-data"), { name: "gitea-data", path: "/mnt/scratch/gitea" }];
      i.nodes[5].hostVolumes.find((v: { name: string }) => v.name === "gitea-data").path = "/mnt/nfs/gitea";
      i.nodes[6].hostVolumes.find((v: { name: string }) => v.name === "gitea-data").path = "/mnt/nfs/gitea";
    });
    const gitea = ALL_JOBS.find((j) => j.id === "gitea")!;
    expect(errorsWith([gitea], inventory)).toEqual([
      'error ELY-PLC-005: job gitea, field volumes[0].source: received host volume "gitea-data" on node w1 (/mnt/scratch/gitea) is on the scratch disk, reformatted at every boot, expected "nfs" or "local" storage: job gitea is stateful and its data must survive a reboot',
    ]);
  });

  test("the seed's stateful jobs are marked so, and their volumes are on NFS in the default cluster", () => {
    const stateful = ALL_JOBS.filter((j) => j.props(defaultInventory()).stateful).map((j) => j.id);
    expect(stateful).toEqual(["traefik", "gitea", "registry", "prometheus"]);
  });

  test("an NFS volume outside the util node's exports", () => {
    expect(errorsWith([jobDef("a", { ...small, volumes: [{ kind: "nfs", path: "/srv/other", destination: "/data" }] })])).toEqual([
      'error ELY-PLC-003: job a, field volumes[0].path: received "/srv/other", expected a path under an NFS export of the util node (/opt/nfs)',
    ]);
    expect(errorsWith([jobDef("b", { ...small, volumes: [{ kind: "nfs", path: "/opt/nfs/b", destination: "/data" }] })])).toEqual([]);
  });

  test("a driver no client offers", () => {
    expect(errorsWith([jobDef("a", { driver: "raw_exec", command: "/bin/true" })])).toEqual([
      'error ELY-PLC-001: job a, field driver: received "raw_exec", expected a driver some client offers (docker, exec)',
    ]);
  });

  test("constraints no client satisfies", () => {
    expect(errorsWith([jobDef("a", { ...small, constraints: [{ attribute: "${attr.cpu.arch}", value: "arm64" }] })])).toEqual([
      "error ELY-PLC-004: job a: received driver docker, host volumes none, 1 constraint, expected a client that can run it; clients: w1, w2, w3",
    ]);
  });
});

describe("a service's own props", () => {
  test.each<[string, NomadServiceProps, string]>([
    ["docker without image", {}, "error ELY-JOB-002: job x, field image: received nothing, expected a container image: the docker driver needs one"],
    ["exec without command", { driver: "exec" }, "error ELY-JOB-002: job x, field command: received nothing, expected a command: the exec driver needs one"],
    ["count below 1", { image: "a", count: 0 }, "error ELY-JOB-003: job x, field count: received 0, expected a whole number of at least 1"],
    ["count on a system job", { image: "a", type: "system", count: 2 }, "error ELY-JOB-003: job x, field count: received 2, expected no count: a system job runs on every eligible client"],
    ["memory max below memory", { image: "a", memoryMb: 256, memoryMaxMb: 128 }, "error ELY-JOB-004: job x, field memoryMaxMb: received 128, expected at least memoryMb (256)"],
    ["duplicate port label", { image: "a", ports: [{ label: "p" }, { label: "p" }] }, 'error ELY-JOB-005: job x, field ports[1].label: received "p", expected a label not used by another port'],
    ["port out of range", { image: "a", ports: [{ label: "p", static: 70000 }] }, "error ELY-JOB-005: job x, field ports[0].static: received 70000, expected a port number 1-65535"],
    ["check on an unknown port", { image: "a", ports: [{ label: "p" }], checks: [{ type: "tcp", port: "q" }] }, 'error ELY-JOB-006: job x, field checks[0].port: received "q", expected one of the job\'s port labels (p)'],
    ["expose without a port", { image: "a", expose: { host: "x.kyleondy.com" } }, "error ELY-JOB-006: job x, field expose: received an exposure of x.kyleondy.com, expected the job to declare a port for the ingress to reach"],
    ["expose a malformed host", { image: "a", ports: [{ label: "p" }], expose: { host: "localhost" } }, 'error ELY-JOB-007: job x, field expose.host: received "localhost", expected a DNS name like www.example.com'],
    ["malformed port label", { image: "a", ports: [{ label: "http${x}" }] }, 'error ELY-JOB-005: job x, field ports[0].label: received "http${x}", expected a port label of lowercase letters, digits and _ (it names NOMAD_PORT_<label>)'],
    ["expose a path that ends the ingress rule", { image: "a", ports: [{ label: "p" }], expose: { host: "x.kyleondy.com", path: "/a`) || Host(`evil.com" } }, 'error ELY-JOB-007: job x, field expose.path: received "/a`) || Host(`evil.com", expected a URL path starting with / (no spaces, quotes or backticks)'],
    ["canaries on a system job", { image: "a", type: "system", update: { canaries: 1 } }, "error ELY-JOB-009: job x, field update.canaries: received 1, expected 0: canaries exist for service jobs only"],
    ["template outside the task directory", { image: "a", templates: [{ destination: "/etc/passwd", data: "" }] }, 'error ELY-JOB-010: job x, field templates[0].destination: received "/etc/passwd", expected a path inside the task directory (local/..., secrets/...)'],
    ["periodic service", { image: "a", periodicCron: "* * * * *" }, 'error ELY-JOB-008: job x, field periodicCron: received "* * * * *" on a service job, expected a batch job: only batch jobs run on a schedule'],
    ["malformed job name", { image: "a", name: "My_Job" }, 'error ELY-JOB-001: job My_Job, field name: received "My_Job", expected lowercase letters, digits and -'],
  ])("%s", (_, props, message) => {
    expect(errorsWith([jobDef("x", props)])).toContain(message);
  });

  test("raw job JSON overrides are deep-merged over the rendered job", () => {
    const s = stackWithJobs([jobDef("x", { image: "a", jobOverrides: { Priority: 80 }, driverConfig: { auth_soft_fail: true } })]).services.services[0];
    expect(s.jobJson.Job).toMatchObject({ Priority: 80, ID: "x", Type: "service" });
    expect((s.jobJson.Job as Json).TaskGroups[0].Tasks[0].Config).toEqual({ image: "a", auth_soft_fail: true });
  });
});
