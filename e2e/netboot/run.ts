#!/usr/bin/env node
/** `node dist/e2e/netboot/run.js`: the netboot test without jest; exit 0 when the node came up. */
import { formatReport, runNetbootE2e } from "./harness";

runNetbootE2e()
  .then((report) => {
    process.stderr.write(formatReport(report) + "\n");
    process.exit(report.ok ? 0 : 1);
  })
  .catch((e) => {
    process.stderr.write(`netboot-test: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
