/**
 * Boots a freshly built image of the inventory's first netbooted node in QEMU via iPXE and
 * the generated boot configuration (see harness.ts). Needs root, mmdebstrap, qemu-system-x86,
 * ipxe-qemu, busybox-static, rsync, kmod, cpio, xz-utils, and the compiled project (dist/).
 */
import { formatReport, runNetbootE2e } from "./harness";

test("a netbooted node boots its image through iPXE and reports up with its hostname", async () => {
  const report = await runNetbootE2e();
  process.stderr.write(formatReport(report) + "\n");
  if (!report.ok) throw new Error(`${report.failure}\nlast serial lines:\n${report.serialTail}`);
  expect(report.markerLine).toContain(`hostname=${report.hostname}`);
  expect(report.markerLine).toContain(`system-hostname=${report.hostname}`);
  expect(report.markerLine).toContain("agent-config=active");
});
