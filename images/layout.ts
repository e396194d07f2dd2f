/**
 * Names and places shared by the image build, the publish step and the boot service:
 * how an image is named, where its builds live on the util node, and the URL space of
 * the util node's HTTP server. One source, so that the iPXE scripts point at what the
 * publish step actually wrote.
 */
import { ARCHES, ROLES } from "../nodes/schema";

export type ImageRole = (typeof ROLES)[number];
export type ImageArch = (typeof ARCHES)[number];

/** The package sets an image can be built with (see profiles.ts). */
export const IMAGE_PROFILES = ["full", "test"] as const;
export type ImageProfile = (typeof IMAGE_PROFILES)[number];

/** A build id: the first 16 hex digits of the image's input hash. */
export const BUILD_ID_LENGTH = 16;
export const BUILD_ID_PATTERN = /^[0-9a-f]{16}$/;

/** The artifacts of one build, in the order the manifest lists them: the ramroot's name says its codec (images/ramroot-codec.ts). */
export function artifactNamesOf(ramrootArtifact: string): readonly string[] {
  return ["vmlinuz", "initrd", ramrootArtifact];
}
export const MANIFEST_FILE = "manifest.json";

/** Default root of everything Ely serves on the util node. */
export const DEFAULT_REMOTE_ROOT = "/srv/ely";
/** Default port of the util node's HTTP server (the seed's nginx on :8080). */
export const DEFAULT_HTTP_PORT = 8080;

/** "client-amd64": an image is one role on one architecture. */
export function imageKeyOf(role: string, arch: string): string {
  return `${role}-${arch}`;
}

export function buildIdOf(inputHash: string): string {
  return inputHash.slice(0, BUILD_ID_LENGTH);
}

/**
 * The util node's layout under its root (remote paths), and the matching URL paths:
 *   images/<image>/<build id>/{vmlinuz,initrd,ramroot.tar.gz|tar.xz|cpio.zst,manifest.json}   GET /images/...
 *   images/<image>/latest -> <build id>
 *   boot/releases/<hash>/{dnsmasq.conf,nginx.conf,tftp/,ipxe/,config/,systemd/}
 *   boot/current -> releases/<hash>                                           GET /ipxe/..., /config/...
 */
export const REMOTE_IMAGES_DIR = "images";
export const REMOTE_BOOT_DIR = "boot";
export const REMOTE_BOOT_RELEASES_DIR = "boot/releases";
export const REMOTE_BOOT_CURRENT_LINK = "boot/current";

export function imageUrlPath(imageKey: string, buildId: string, artifact: string): string {
  return `/images/${imageKey}/${buildId}/${artifact}`;
}

/** "00:1E:06:45:28:5C" -> "00-1e-06-45-28-5c" (iPXE's ${mac:hexhyp}). */
export function macHyphen(mac: string): string {
  return mac.toLowerCase().replace(/[:-]/g, "-");
}

export function ipxeScriptUrlPath(mac: string): string {
  return `/ipxe/${macHyphen(mac)}.ipxe`;
}

export function agentConfigUrlPath(hostname: string, file: string): string {
  return `/config/${hostname}/${file}`;
}
