/** Which zone a host belongs to, and its name inside that zone. */
export interface ZonedName {
  readonly zone: string;
  /** The label(s) left of the zone; "@" for the zone apex. */
  readonly name: string;
}

/** The longest zone that is a suffix of the host, or undefined when none is. */
export function zoneOf(host: string, zones: readonly string[]): ZonedName | undefined {
  const h = host.toLowerCase().replace(/\.$/, "");
  let best: string | undefined;
  for (const zone of zones) {
    const z = zone.toLowerCase().replace(/\.$/, "");
    if ((h === z || h.endsWith("." + z)) && (best === undefined || z.length > best.length)) best = z;
  }
  if (best === undefined) return undefined;
  return { zone: best, name: h === best ? "@" : h.slice(0, h.length - best.length - 1) };
}
