/**
 * The unprivileged image build's preflight (images/user-namespace.ts): one test per rule, each
 * checking its message; and what a root and an unprivileged build share in the recipe. The build
 * itself, unprivileged and as root, runs in `npm run test:image-build` (e2e/images/).
 */
import {
  firstSubordinateRange,
  freeSubordinateStart,
  UNSHARE_ARGS,
  UsernsFacts,
  usernsProblems,
} from "../images/user-namespace";
import { imageRecipe, recipeInputs } from "../images/recipe";
import { clientImageSpec } from "./helpers/image-spec";

/** A machine where the build can run: ely-build (uid 1001) with 65536 subordinate ids. */
const READY: UsernsFacts = {
  user: "ely-build",
  uid: 1001,
  subuid: "other:100000:65536\nely-build:165536:65536\n",
  subgid: "other:100000:65536\nely-build:165536:65536\n",
  newuidmap: true,
  newgidmap: true,
  unshareMapAuto: true,
  maxUserNamespaces: "15000\n",
  unprivilegedUsernsClone: undefined,
  apparmorRestrictUnprivilegedUserns: undefined,
};

describe("unprivileged build preflight", () => {
  test("a ready machine has no problem", () => {
    expect(usernsProblems(READY)).toEqual([]);
  });

  test("a range may be given by uid instead of the name", () => {
    expect(usernsProblems({ ...READY, subuid: "1001:165536:65536\n", subgid: "1001:165536:65536\n" })).toEqual([]);
    expect(firstSubordinateRange("1001:200000:70000\n", "ely-build", 1001)).toEqual({ start: 200000, count: 70000 });
  });

  test("missing newuidmap and newgidmap name the uidmap package", () => {
    expect(usernsProblems({ ...READY, newuidmap: false, newgidmap: false })).toEqual(["newuidmap and newgidmap are missing (Debian: apt-get install uidmap)"]);
    expect(usernsProblems({ ...READY, newgidmap: false })).toEqual(["newgidmap is missing (Debian: apt-get install uidmap)"]);
  });

  test("a missing unshare, or one without --map-auto, names util-linux", () => {
    expect(usernsProblems({ ...READY, unshareMapAuto: undefined })).toEqual(["unshare is missing (Debian: apt-get install util-linux)"]);
    expect(usernsProblems({ ...READY, unshareMapAuto: false })).toEqual(["unshare has no --map-auto: util-linux 2.38 or later is needed (Debian 12 has it)"]);
  });

  test("no range for the user: the file, the user and the usermod command with a free range", () => {
    const facts = { ...READY, subuid: "other:100000:65536\n", subgid: "other:100000:65536\n" };
    const grant = "as root, once: usermod --add-subuids 165536-231071 --add-subgids 165536-231071 ely-build";
    expect(usernsProblems(facts)).toEqual([`/etc/subuid has no range for ely-build (uid 1001): ${grant}`, `/etc/subgid has no range for ely-build (uid 1001): ${grant}`]);
  });

  test("missing /etc/subuid or /etc/subgid is named", () => {
    expect(usernsProblems({ ...READY, subgid: undefined })).toEqual([
      "/etc/subgid is missing: as root, once: usermod --add-subuids 231072-296607 --add-subgids 231072-296607 ely-build",
    ]);
  });

  test("a first range too small for an image's ids is refused with its size", () => {
    expect(usernsProblems({ ...READY, subuid: "ely-build:300000:1000\nely-build:400000:65536\n" })).toEqual([
      "/etc/subuid gives ely-build (uid 1001) 1000 ids from 300000 (its first range), the build needs 65535 (an image's ids 1-65535): " +
        "as root, once: usermod --add-subuids 465536-531071 --add-subgids 465536-531071 ely-build",
    ]);
  });

  test("kernel switches that disable user namespaces are named with the sysctl that enables them", () => {
    expect(usernsProblems({ ...READY, maxUserNamespaces: "0\n" })).toEqual([
      "user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0 (as root: sysctl -w user.max_user_namespaces=15000)",
    ]);
    expect(usernsProblems({ ...READY, unprivilegedUsernsClone: "0\n" })).toEqual([
      "unprivileged user namespaces are disabled: /proc/sys/kernel/unprivileged_userns_clone is 0 (as root: sysctl -w kernel.unprivileged_userns_clone=1)",
    ]);
    expect(usernsProblems({ ...READY, apparmorRestrictUnprivilegedUserns: "1\n" })).toEqual([
      "AppArmor restricts unprivileged user namespaces: /proc/sys/kernel/apparmor_restrict_unprivileged_userns is 1 " +
        "(as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile allowing userns for unshare)",
    ]);
    expect(usernsProblems({ ...READY, unprivilegedUsernsClone: "1\n", apparmorRestrictUnprivilegedUserns: "0\n" })).toEqual([]);
  });

  test("every problem is reported at once", () => {
    const problems = usernsProblems({ ...READY, newuidmap: false, newgidmap: false, subuid: "", subgid: undefined, maxUserNamespaces: "0" });
    expect(problems.map((p) => p.split(":")[0])).toEqual([
      "newuidmap and newgidmap are missing (Debian",
      "/etc/subuid has no range for ely-build (uid 1001)",
      "/etc/subgid is missing",
      "user namespaces are disabled",
    ]);
  });

  test("the suggested range starts after every range of both files", () => {
    expect(freeSubordinateStart(undefined, "")).toBe(100000);
    expect(freeSubordinateStart("a:100000:65536\n", "b:300000:10\n")).toBe(300010);
  });

  test("the namespace maps the user to root and the subordinate ids above it (util-linux)", () => {
    expect(UNSHARE_ARGS).toEqual(["--user", "--map-auto", "--map-root-user", "--mount", "--"]);
  });
});

describe("what a root and an unprivileged build share", () => {
  const spec = clientImageSpec("test");

  test("/dev is emptied in every ramroot (a root build's device nodes, which an unprivileged one cannot make), and that is an input", () => {
    const recipe = imageRecipe(spec);
    expect(recipe.strip.emptiedDirs).toEqual(["dev"]);
    expect(recipeInputs(recipe)).toContainEqual(["strip.emptiedDirs", "dev"]);
  });
});
