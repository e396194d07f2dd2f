import { CONSUL_CONFIG_FILE, NOMAD_CONFIG_FILE } from "../nodes";
import { inventoryWith } from "./helpers/inventory";
import { stackOf } from "./helpers/synth";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function configsOf(stack = stackOf()) {
  const nodes = stack.cluster.nodes;
  return (host: string, file: string): Json => {
    const config = nodes.get(host)!.agentConfigs.get(file);
    if (!config) throw new Error(`${host} has no ${file}`);
    return config as Json;
  };
}

describe("Consul agent configuration", () => {
  const config = configsOf();

  test("servers expect each other, join each other and bind on their own address", () => {
    for (const [host, ip] of [["m1", "10.25.89.10"], ["m2", "10.25.89.20"], ["m3", "10.25.89.30"]]) {
      const c = config(host, CONSUL_CONFIG_FILE);
      expect(c).toMatchObject({
        server: true,
        bootstrap_expect: 3,
        retry_join: ["10.25.89.10", "10.25.89.20", "10.25.89.30"],
        bind_addr: ip,
        advertise_addr: ip,
        node_name: host,
        datacenter: "509ely",
        ui_config: { enabled: true },
      });
    }
  });

  test("clients, util included, join the servers and are not servers", () => {
    for (const host of ["util", "w1", "w2", "w3"]) {
      const c = config(host, CONSUL_CONFIG_FILE);
      expect(c.server).toBe(false);
      expect(c.bootstrap_expect).toBeUndefined();
      expect(c.retry_join).toEqual(["10.25.89.10", "10.25.89.20", "10.25.89.30"]);
      expect(c.auto_encrypt).toEqual({ tls: true });
    }
  });

  test("ACLs default to deny, gossip is verified, TLS is on, and no secret is in the file", () => {
    const c = config("m1", CONSUL_CONFIG_FILE);
    expect(c.acl).toMatchObject({ enabled: true, default_policy: "deny" });
    expect(c.encrypt_verify_incoming).toBe(true);
    expect(c.encrypt).toBeUndefined();
    expect(c.tls.defaults).toMatchObject({ ca_file: "/etc/ely/secrets/tls/ca.pem", cert_file: "/etc/ely/secrets/tls/consul.pem", verify_incoming: true });
    expect(c.ports).toEqual({ http: 8500, https: 8501 });
    expect(c.addresses).toEqual({ http: "127.0.0.1" });
    expect(c.acl.tokens).toBeUndefined();
  });

  test("security can be turned off for a lab", () => {
    const c = configsOf(stackOf(inventoryWith((i) => (i.security = { acl: false, tls: false, gossipEncryption: false }))))("m1", CONSUL_CONFIG_FILE);
    expect(c.acl).toBeUndefined();
    expect(c.tls).toBeUndefined();
    expect(c.encrypt_verify_incoming).toBeUndefined();
    expect(c.ports).toEqual({ http: 8500 });
  });
});

describe("Nomad agent configuration", () => {
  const config = configsOf();

  test("servers: bootstrap_expect is the server count and they join each other on serf", () => {
    const c = config("m2", NOMAD_CONFIG_FILE);
    expect(c.server).toEqual({
      enabled: true,
      bootstrap_expect: 3,
      server_join: { retry_join: ["10.25.89.10:4648", "10.25.89.20:4648", "10.25.89.30:4648"] },
    });
    expect(c).toMatchObject({ name: "m2", region: "global", datacenter: "509ely", bind_addr: "10.25.89.20" });
    expect(c.client).toBeUndefined();
  });

  test("clients: docker with volumes, host volumes, node_class and meta from the hardware, prometheus telemetry", () => {
    const c = config("w1", NOMAD_CONFIG_FILE);
    expect(c.client).toMatchObject({
      enabled: true,
      server_join: { retry_join: ["10.25.89.10:4647", "10.25.89.20:4647", "10.25.89.30:4647"] },
      node_class: "odroid-h2",
      meta: { arch: "amd64", model: "ODROID H2", cores: "4", memory_mb: "32768", disk_kinds: "nvme", disk_gb: "1000" },
    });
    // Labelled blocks as lists of { label: body }: the form Nomad's JSON config loader accepts in every case.
    expect(c.client.host_volume).toContainEqual({ "gitea-data": { path: "/mnt/nfs/gitea", read_only: false } });
    expect(c.client.host_volume).toHaveLength(5);
    expect(c.plugin.docker.config.volumes).toEqual([{ enabled: true }]);
    expect(c.telemetry).toMatchObject({ prometheus_metrics: true, publish_allocation_metrics: true, publish_node_metrics: true });
    expect(c.acl).toEqual({ enabled: true });
    expect(c.tls).toMatchObject({ http: true, rpc: true, ca_file: "/etc/ely/secrets/tls/ca.pem", verify_server_hostname: true });
  });

  test("clients skip the cloud platforms' fingerprinters (each waits out a metadata timeout on a LAN) and the exec driver they do not list", () => {
    const c = config("w1", NOMAD_CONFIG_FILE);
    expect(c.client.options["fingerprint.denylist"].split(",")).toEqual(["env_aws", "env_gce", "env_azure", "env_digitalocean"]);
    expect(c.client.options["driver.denylist"]).toBeUndefined();
    const noExec = configsOf(stackOf(inventoryWith((i) => {
      i.nodes[4].drivers = ["docker"];
    })));
    expect(noExec("w1", NOMAD_CONFIG_FILE).client.options).toEqual({ "fingerprint.denylist": "env_aws,env_gce,env_azure,env_digitalocean", "driver.denylist": "exec" });
  });

  test("a client in a cloud puts the platform fingerprinters back with its agent overrides", () => {
    const c = configsOf(stackOf(inventoryWith((i) => {
      i.nodes[4].agentOverrides = { nomad: { client: { options: { "fingerprint.denylist": "" } } } };
    })));
    expect(c("w1", NOMAD_CONFIG_FILE).client.options).toEqual({ "fingerprint.denylist": "" });
  });

  test("util runs no Nomad agent and servers run no Nomad client", () => {
    expect(() => config("util", NOMAD_CONFIG_FILE)).toThrow("util has no nomad.json");
    expect(config("m1", NOMAD_CONFIG_FILE).client).toBeUndefined();
  });

  test("inventory meta and agent overrides are merged over the rendered files", () => {
    const c = configsOf(
      stackOf(
        inventoryWith((i) => {
          i.nodes[4].meta = { rack: "top" };
          i.nodes[4].agentOverrides = { nomad: { client: { cpu_total_compute: 6000 } }, consul: { log_level: "DEBUG" } };
        }),
      ),
    );
    const nomad = c("w1", NOMAD_CONFIG_FILE);
    expect(nomad.client.cpu_total_compute).toBe(6000);
    expect(nomad.client.meta.rack).toBe("top");
    expect(nomad.client.node_class).toBe("odroid-h2");
    expect(c("w1", CONSUL_CONFIG_FILE).log_level).toBe("DEBUG");
  });
});

describe("agent configuration bundle", () => {
  test("holds both files of every agent node and changes its hash with the content", () => {
    const bundle = stackOf().cluster.agentConfigs;
    expect([...bundle.files.keys()].filter((f) => f.endsWith(".json")).sort()).toEqual([
      "m1/consul.json", "m1/nomad.json", "m2/consul.json", "m2/nomad.json", "m3/consul.json", "m3/nomad.json",
      "util/consul.json",
      "w1/consul.json", "w1/nomad.json", "w2/consul.json", "w2/nomad.json", "w3/consul.json", "w3/nomad.json",
    ]);
    expect(JSON.parse(bundle.files.get("w1/nomad.json")!).name).toBe("w1");
    // Beside them, the netbooted nodes' storage units (node-storage.test.ts).
    expect([...bundle.files.keys()].filter((f) => !f.endsWith(".json")).every((f) => /^w[123]\/storage\//.test(f))).toBe(true);
    expect(stackOf().cluster.agentConfigs.contentHash).toBe(bundle.contentHash);
    const changed = stackOf(inventoryWith((i) => (i.nodes[4].meta = { rack: "top" }))).cluster.agentConfigs;
    expect(changed.contentHash).not.toBe(bundle.contentHash);
    expect(changed.fileHash("w1", "nomad.json")).not.toBe(bundle.fileHash("w1", "nomad.json"));
    expect(changed.fileHash("w2", "nomad.json")).toBe(bundle.fileHash("w2", "nomad.json"));
  });

  test("every rendered file, as a snapshot (complements the assertions above)", () => {
    const bundle = stackOf().cluster.agentConfigs;
    const json = [...bundle.files].filter(([file]) => file.endsWith(".json"));
    expect(Object.fromEntries(json.map(([file, text]) => [file, JSON.parse(text)]))).toMatchSnapshot();
  });
});
