/** The client image spec the image tests build recipes from: official agents at fixed versions. */
import { ImageProfile } from "../../images/layout";
import { ImageSpec } from "../../images/recipe";

export function clientImageSpec(profile: ImageProfile): ImageSpec {
  return {
    role: "client",
    arch: "amd64",
    profile,
    agentVersions: { consul: "1.16.6", nomad: "1.6.10" },
    agentSource: { kind: "official" },
  };
}
