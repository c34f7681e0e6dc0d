// Entry of bin/stepstone: builds the CLI and runs it, nothing else.
import { run } from './cli/program.js';

await run(process.argv);
