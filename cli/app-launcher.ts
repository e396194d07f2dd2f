/**
 * What `cdktf.json` runs: `npm run build` bundles this file into `dist/app.js`, beside the app's own bundle
 * (`dist/app-bundle.js`, main.ts and everything it imports), which it runs through V8's code cache
 * (`dist/app-bundle.code-cache`, made by the first run after a build). Only the bundled copy in `dist/`
 * is meant to run: `__dirname` is `dist` there.
 */
import * as path from "path";
import { runWithCodeCache } from "./code-cache";

runWithCodeCache(path.join(__dirname, "app-bundle.js"), path.join(__dirname, "app-bundle.code-cache"));
