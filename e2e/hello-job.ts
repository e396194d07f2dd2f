/** The job the end-to-end suites really run on a dev agent, without Docker (raw_exec). */
import { JobDefinition } from "../jobs";

/** A web server that needs nothing but python3 on the client. */
export const hello: JobDefinition = {
  id: "hello",
  props: () => ({
    driver: "raw_exec",
    command: "python3",
    args: ["-m", "http.server", "${NOMAD_PORT_http}", "--bind", "${NOMAD_IP_http}", "--directory", "${NOMAD_TASK_DIR}"],
    cpuMhz: 50,
    memoryMb: 64,
    ports: [{ label: "http" }],
    templates: [{ destination: "local/index.html", data: "hello from ely\n" }],
    checks: [{ type: "http", port: "http", path: "/index.html", intervalSeconds: 2 }],
  }),
};
