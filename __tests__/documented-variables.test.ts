import * as fs from "fs";
import * as path from "path";
import { allDeclaredVariables, DeclaredVariable } from "./helpers/variables";

/** The rows of README's "Terraform variables" table. */
function documented(): { name: string; type: string; required: string }[] {
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  const section = readme.split("\n### Terraform variables\n")[1]?.split(/\n#{2,3} /)[0] ?? "";
  return section
    .split("\n")
    .filter((l) => l.startsWith("| `TF_VAR_"))
    .map((l) => {
      const [name, type, required] = l.split(" | ").map((c) => c.replace(/^\| /, "").trim());
      return { name: name.replace(/^`TF_VAR_|`$/g, ""), type: type.replace(/^`|`$/g, ""), required };
    });
}

function requiredCell(v: DeclaredVariable): string {
  return v.required ? "yes" : `no (\`${JSON.stringify(v.default)}\`)`;
}

describe("README documents every Terraform variable as the code declares it", () => {
  const declared = allDeclaredVariables();

  test("the stacks declare the variables this test is about", () => {
    expect(declared.map((v) => v.name)).toEqual(expect.arrayContaining(["consul_token", "server_tls", "dns_tsig_secret", "namecheap_api_key"]));
  });

  test("one row per variable, with its type and whether it is required, exactly", () => {
    const expected = declared.map((v) => ({ name: v.name, type: v.type, required: requiredCell(v) }));
    const rows = documented().sort((a, b) => a.name.localeCompare(b.name));
    // On failure, the expected rows: | `TF_VAR_<name>` | `<type>` | <required> | ... |
    expect(rows).toEqual(expected);
  });

  test("server_tls is documented with its real shape", () => {
    expect(documented().find((r) => r.name === "server_tls")?.type).toBe(
      "map(object({ consul_cert = string, consul_key = string, nomad_cert = string, nomad_key = string }))",
    );
  });
});
