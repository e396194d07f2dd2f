/**
 * The CDKTF app: `cdktf synth|diff|deploy` run this (compiled) through cdktf.json.
 * The inventory is the built-in default cluster, or the file named by ELY_INVENTORY.
 */
import { buildApp } from "./cli/build-app";

buildApp().app.synth();
