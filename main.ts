/**
 * The CDKTF app: `cdktf synth|diff|deploy` run this (compiled) through cdktf.json.
 * The inventory is the built-in default cluster, or the file named by ELY_INVENTORY.
 * A bad inventory prints the same list of problems as `ely validate` and exits 1 before
 * anything is synthesized (cdktf's own validation would print a stack trace instead).
 */
import "./cli/token-creation-stacks"; // first: before cdktf creates a token
import { checkedAppOrExit } from "./cli/checked-app";

checkedAppOrExit({ consequence: "; nothing synthesized" }).app.synth();
