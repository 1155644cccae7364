#!/usr/bin/env node
// The `tandem` command: runs the compiled CLI (npm run build, or npm run setup, makes it).
import '../dist/src/cli/main.js';
