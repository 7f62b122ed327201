#!/usr/bin/env bun
/** Entry point of the `stagehand` binary (and of `switch-to-configuration`, the same binary). */
import { main } from "./cli/main.ts";

const status = await main(process.argv0, process.argv.slice(2));
process.exit(status);
