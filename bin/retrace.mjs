#!/usr/bin/env node
// `retrace <command>` when installed: the same CLI as `npm run --silent cli -- <command>`.
// TypeScript is loaded through tsx's loader in this same process (signals reach the program).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
