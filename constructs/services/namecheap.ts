/**
 * A typed wrapper of the Namecheap Terraform provider (namecheap/namecheap): no prebuilt
 * cdktf binding exists, so the two pieces Ely uses are declared here by hand.
 */
import { TerraformProvider, TerraformResource } from "cdktf";
import { Construct } from "constructs";

/** The provider's registry source and the version Ely pins. */
export const NAMECHEAP_PROVIDER = { source: "namecheap/namecheap", version: "2.2.0" } as const;

export interface NamecheapProviderConfig {
  readonly userName: string;
  readonly apiUser: string;
  /** The API key: pass a sensitive variable's reference, never a literal. */
  readonly apiKey: string;
  /** Default: false. */
  readonly useSandbox?: boolean;
}

export class NamecheapProvider extends TerraformProvider {
  private readonly config: NamecheapProviderConfig;

  constructor(scope: Construct, id: string, config: NamecheapProviderConfig) {
    super(scope, id, {
      terraformResourceType: "namecheap",
      terraformProviderSource: NAMECHEAP_PROVIDER.source,
      terraformGeneratorMetadata: { providerName: "namecheap", providerVersion: NAMECHEAP_PROVIDER.version },
    });
    this.config = config;
  }

  protected synthesizeAttributes(): Record<string, unknown> {
    return {
      user_name: this.config.userName,
      api_user: this.config.apiUser,
      api_key: this.config.apiKey,
      use_sandbox: this.config.useSandbox ?? false,
    };
  }

  protected synthesizeHclAttributes(): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(this.synthesizeAttributes()).map(([k, v]) => [k, { value: v, isBlock: false, type: "simple", storageClassType: typeof v === "boolean" ? "boolean" : "string" }]),
    );
  }
}

export interface NamecheapRecord {
  readonly hostname: string;
  readonly type: "A" | "AAAA" | "CNAME" | "TXT";
  readonly address: string;
  readonly ttlSeconds: number;
}

export interface NamecheapDomainRecordsConfig {
  readonly domain: string;
  readonly records: readonly NamecheapRecord[];
  readonly provider: NamecheapProvider;
}

/** namecheap_domain_records in MERGE mode: records Ely does not declare are left alone. */
export class NamecheapDomainRecords extends TerraformResource {
  private readonly config: NamecheapDomainRecordsConfig;

  constructor(scope: Construct, id: string, config: NamecheapDomainRecordsConfig) {
    super(scope, id, {
      terraformResourceType: "namecheap_domain_records",
      terraformGeneratorMetadata: { providerName: "namecheap", providerVersion: NAMECHEAP_PROVIDER.version },
      provider: config.provider,
    });
    this.config = config;
  }

  protected synthesizeAttributes(): Record<string, unknown> {
    return {
      domain: this.config.domain,
      mode: "MERGE",
      record: this.config.records.map((r) => ({ hostname: r.hostname, type: r.type, address: r.address, ttl: r.ttlSeconds })),
    };
  }
}
