/**
 * The built-in default cluster: the seed's home lab (../shared/reference/original-system.md).
 *
 * Addresses: util .4 and the masters .10/.20/.30 come from the September 2020 layout, the
 * workers .21-.23 from the 2021 rewrite; the ingress VIP is the 2020 one (.5) because the
 * 2021 VIP (.20) is m2's address. Only m1's MAC is on record among the masters, so m2 and
 * m3 boot from their SD cards over ssh until their MACs are added.
 */
import { InventoryInput } from "./schema";

/**
 * The ODROID H2's NVMe is the seed's scratch disk, reformatted at every boot. Its serials are not
 * on record: to have it formatted and mounted at /mnt/scratch, give each worker's disk its
 * `serial` (or `byId`) and `scratchMountPoint: "/mnt/scratch"`. Until then the workers' scratch
 * volume is in RAM (backing "ram"), which no stateful job may use.
 */
const odroidH2 = quadCore("ODROID H2", 32768, { device: "nvme0n1", sizeGb: 1000, kind: "nvme" });

const raspberryPi4 = quadCore("Raspberry Pi 4", 4096, { device: "mmcblk0", sizeGb: 32, kind: "sd" });

/** The seed's boards: four cores at 1.5 GHz, one disk. */
function quadCore(model: string, memoryMb: number, disk: { device: string; sizeGb: number; kind: "nvme" | "sd" }) {
  return { model, cores: 4, cpuMhz: 1500, memoryMb, disks: [disk] };
}

/** Shared storage each worker mounts from util (/opt/nfs exported as /mnt/nfs). */
const workerVolumes = [
  { name: "scratch", path: "/mnt/scratch" },
  { name: "traefik-acme", path: "/mnt/nfs/traefik" },
  { name: "gitea-data", path: "/mnt/nfs/gitea" },
  { name: "registry-data", path: "/mnt/nfs/registry" },
  { name: "prometheus-data", path: "/mnt/nfs/prometheus" },
];

export const DEFAULT_INVENTORY: InventoryInput = {
  name: "ely",
  datacenter: "509ely",
  region: "global",
  network: {
    subnet: "10.25.89.0/24",
    gateway: "10.25.89.1",
    internalDomain: "dmz.509ely.com",
    servicesDomain: "apps.509ely.com",
    ingressAddress: "10.25.89.5",
  },
  // The seed's registrar; its DNS was set up by hand, here every exposed host gets its record.
  dns: {
    provider: "namecheap",
    apiUser: "kyleondy",
    userName: "kyleondy",
    ingressName: "home.ondy.org",
    zones: ["kyleondy.com", "ondy.org", "509ely.com"],
  },
  // The seed's canary: w1 follows "latest" (the newest revision), w2 and w3 "stable". A change of an
  // image input is a new revision appended here; promoting it is moving "stable" to its name.
  images: {
    revisions: [{ name: "initial" }],
    channels: { stable: "initial" },
  },
  nodes: [
    {
      hostname: "util",
      role: "util",
      arch: "arm64",
      ip: "10.25.89.4",
      hardware: {
        model: "Raspberry Pi (old)",
        cores: 4,
        cpuMhz: 1200,
        memoryMb: 1024,
        disks: [{ device: "mmcblk0", sizeGb: 16, kind: "sd" }],
      },
      // The seed's shared storage: every worker mounts it at /mnt/nfs (the default mount point).
      nfsExports: [{ path: "/opt/nfs" }],
    },
    { hostname: "m1", role: "server", arch: "arm64", ip: "10.25.89.10", mac: "dc:a6:32:55:33:40", hardware: raspberryPi4 },
    { hostname: "m2", role: "server", arch: "arm64", ip: "10.25.89.20", hardware: raspberryPi4 },
    { hostname: "m3", role: "server", arch: "arm64", ip: "10.25.89.30", hardware: raspberryPi4 },
    {
      hostname: "w1",
      role: "client",
      arch: "amd64",
      ip: "10.25.89.21",
      mac: "00:1e:06:45:28:5c",
      extraMacs: ["00:1e:06:45:28:5d"],
      // The seed's canary: one worker boots the newest build while the others stay on stable.
      imageChannel: "latest",
      hardware: odroidH2,
      hostVolumes: workerVolumes,
    },
    {
      hostname: "w2",
      role: "client",
      arch: "amd64",
      ip: "10.25.89.22",
      mac: "00:1e:06:45:20:02",
      extraMacs: ["00:1e:06:45:20:03"],
      hardware: odroidH2,
      hostVolumes: workerVolumes,
    },
    {
      hostname: "w3",
      role: "client",
      arch: "amd64",
      ip: "10.25.89.23",
      mac: "00:1e:06:45:2e:ec",
      extraMacs: ["00:1e:06:45:2e:ed"],
      hardware: odroidH2,
      hostVolumes: workerVolumes,
    },
  ],
};
