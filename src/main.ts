// Entry of bin/stepstone: builds the CLI and runs it, nothing else.
import { run } from './cli/program.js';
import { releaseVanishedTerminalAtExit } from './util/vanished-terminal.js';

releaseVanishedTerminalAtExit();
await run(process.argv);
