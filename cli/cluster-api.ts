/**
 * Reads Consul's and Nomad's HTTP APIs for the operator's commands: the operator's token
 * from the environment, TLS verified with the cluster's CA, a bounded wait, and errors that
 * say which agent, which address and what to check (never a stack trace).
 */
import * as fs from "fs";
import * as http from "http";
import * as https from "https";

/** Something the operator must fix before Ely can ask the cluster (address, token, CA). */
export class ClusterApiError extends Error {}

export type Agent = "Consul" | "Nomad";

export interface ClusterApiOptions {
  readonly agent: Agent;
  /** http(s)://host:port */
  readonly address: string;
  /** ACL token; sent as X-Consul-Token / X-Nomad-Token. */
  readonly token?: string;
  /** PEM file of the CA that signed the agents' certificates (https only). Default: the system's CAs. */
  readonly caFile?: string;
  /** The CA's PEM text itself, instead of a file. Default: caFile's. */
  readonly caPem?: string;
  /** Default: 10 s. */
  readonly timeoutMs?: number;
}

/** The environment variables each agent's own CLI reads, which Ely reads too. */
export const TOKEN_ENV: Record<Agent, string> = { Consul: "CONSUL_HTTP_TOKEN", Nomad: "NOMAD_TOKEN" };
export const CACERT_ENV: Record<Agent, string> = { Consul: "CONSUL_CACERT", Nomad: "NOMAD_CACERT" };

export class ClusterApi {
  private readonly url: URL;
  private readonly ca?: Buffer;

  constructor(private readonly options: ClusterApiOptions) {
    try {
      this.url = new URL(options.address);
    } catch {
      throw new ClusterApiError(`${options.agent} address: received ${JSON.stringify(options.address)}, expected http(s)://host:port`);
    }
    if (this.url.protocol !== "http:" && this.url.protocol !== "https:") {
      throw new ClusterApiError(`${options.agent} address: received ${JSON.stringify(options.address)}, expected http(s)://host:port`);
    }
    if (options.caPem && this.url.protocol === "https:") this.ca = Buffer.from(options.caPem);
    else if (options.caFile && this.url.protocol === "https:") {
      try {
        this.ca = fs.readFileSync(options.caFile);
      } catch (e) {
        throw new ClusterApiError(`${options.agent} CA file ${options.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}: cannot verify ${options.address} without it`);
      }
    }
  }

  get address(): string {
    return this.options.address;
  }

  /** GET a path; resolves the parsed JSON, or undefined on 404. */
  async get<T>(path: string): Promise<T | undefined> {
    return this.request<T>("GET", path);
  }

  /** POST a JSON body to a path (a drain, an eligibility change); resolves the parsed answer, or undefined on 404. */
  async post<T>(path: string, body: unknown): Promise<T | undefined> {
    return this.request<T>("POST", path, body);
  }

  /** PUT a JSON body to a path (an agent's token); resolves the parsed answer, or undefined on 404. */
  async put<T>(path: string, body: unknown): Promise<T | undefined> {
    return this.request<T>("PUT", path, body);
  }

  private async request<T>(method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<T | undefined> {
    const { agent, address, token } = this.options;
    const url = new URL(path, this.url);
    const headers: Record<string, string> = {};
    if (token) headers[agent === "Consul" ? "X-Consul-Token" : "X-Nomad-Token"] = token;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const { status, body: text } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = (url.protocol === "https:" ? https : http).request(url, { method, headers, ca: this.ca, timeout: this.options.timeoutMs ?? 10_000 }, (res) => {
        let answer = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (answer += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: answer }));
        res.on("error", reject);
      });
      request.on("timeout", () => request.destroy(new Error(`no answer within ${(this.options.timeoutMs ?? 10_000) / 1000} s`)));
      request.on("error", reject);
      request.end(payload);
    }).catch((e: NodeJS.ErrnoException) => {
      throw new ClusterApiError(`cannot reach ${agent} at ${address}: ${describeNetworkError(e, agent)}`);
    });
    if (status === 404) return undefined;
    if (status === 401 || status === 403) {
      throw new ClusterApiError(
        `${agent} at ${address} refused ${method} ${path} (HTTP ${status}: ${text.trim().slice(0, 200)}): set ${TOKEN_ENV[agent]} to a token that may ${method === "GET" ? "read" : "write"} it (the operator token)`,
      );
    }
    if (status !== 200) throw new ClusterApiError(`${agent} at ${address}: ${method} ${path} answered HTTP ${status}: ${text.trim().slice(0, 300)}`);
    if (method !== "GET" && text.trim() === "") return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ClusterApiError(`${agent} at ${address}: ${method} ${path} answered something that is not JSON: ${text.slice(0, 100)}`);
    }
  }
}

function describeNetworkError(e: NodeJS.ErrnoException, agent: Agent): string {
  const certificate = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(e.code ?? "");
  if (certificate) return `${e.message} (${e.code}): the server's certificate is not signed by a CA Ely trusts: set endpoints.caFile in the inventory or ${CACERT_ENV[agent]}`;
  if (e.code === "ECONNREFUSED") return `connection refused: is the agent running, and is the address right?`;
  if (e.code === "EPROTO" || /wrong version number|packet length too long/i.test(e.message)) return `${e.message}: does the agent speak ${agent === "Consul" ? "https on 8501 and http on 8500" : "the scheme of this address"}?`;
  return e.code ? `${e.message} (${e.code})` : e.message;
}
