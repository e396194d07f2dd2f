/** The capacity check before a worker reimage drains anything (cli/worker-capacity.ts). */
import { capacityVerdict } from "../cli/worker-capacity";

const alloc = (name: string, cpuMhz: number, memoryMb: number, jobType = "service") => ({ name, jobType, cpuMhz, memoryMb });

describe("worker capacity", () => {
  test("the allocations of the draining worker fit on the others, largest first", () => {
    const v = capacityVerdict(["w1"], [alloc("web.web[0]", 500, 512), alloc("db.db[0]", 1000, 2048)], [
      { name: "w2", freeCpuMhz: 1200, freeMemoryMb: 2100 },
      { name: "w3", freeCpuMhz: 600, freeMemoryMb: 600 },
    ]);
    expect(v.fits).toBe(true);
    expect(v.summary).toBe("w1 runs 2 allocations to move; the other clients hold them (free: w2 1200 MHz/2100 MB, w3 600 MHz/600 MB)");
  });

  test("an allocation that finds no room is named, with what each client has free", () => {
    const v = capacityVerdict(["w1"], [alloc("web.web[0]", 500, 512), alloc("db.db[0]", 1000, 2048)], [{ name: "w2", freeCpuMhz: 1200, freeMemoryMb: 2100 }]);
    expect(v.fits).toBe(false);
    expect(v.homeless.map((a) => a.name)).toEqual(["web.web[0]"]);
    expect(v.summary).toBe(
      "w1 runs 2 allocations to move, and the clients that stay up cannot hold web.web[0] (500 MHz, 512 MB) (free: w2 1200 MHz/2100 MB)",
    );
  });

  test("no other client: nothing can move", () => {
    const v = capacityVerdict(["w1", "w2"], [alloc("web.web[0]", 100, 64)], []);
    expect(v.summary).toBe("w1, w2 run 1 allocation to move, and the clients that stay up cannot hold web.web[0] (100 MHz, 64 MB) (no other client is ready and eligible)");
  });

  test("system jobs' allocations do not move (they run on every client)", () => {
    const v = capacityVerdict(["w1"], [alloc("traefik.traefik[0]", 500, 512, "system"), alloc("ddns.ddns[0]", 10, 10, "batch")], [{ name: "w2", freeCpuMhz: 10, freeMemoryMb: 10 }]);
    expect(v.fits).toBe(true);
    expect(v.moved.map((a) => a.name)).toEqual(["ddns.ddns[0]"]);
  });
});
