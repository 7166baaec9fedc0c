#!/usr/bin/env node
// berth: the operator's command line next to berthd. A small dispatcher over the command
// table (commands.ts): each command lives in its own file under cli/ and is loaded only
// when it runs; `berth CMD --help` prints the command's usage from the table.
import { UsageError } from './args.js';
import { COMMANDS, helpOf } from './commands.js';

function usage(): string {
  return 'usage:\n' + Object.values(COMMANDS).map((c) => '  ' + c.usage).join('\n') + '\nImage commands, doctor and version reach the running berthd through its admin socket (<state>/admin.sock, --state DIR).\n' +
    'berth COMMAND --help: its options. Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 berthd needed but not running, 5 problems found.';
}

async function main(argv: string[]): Promise<number> {
  const two = argv.slice(0, 2).join(' ');
  const key = COMMANDS[two] ? two : COMMANDS[argv[0] ?? ''] ? argv[0]! : undefined;
  if (!key) {
    process.stderr.write(usage() + '\n');
    return argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' ? 0 : 2;
  }
  const rest = argv.slice(key.split(' ').length);
  if ((rest.includes('--help') || rest.includes('-h')) && !COMMANDS[key]!.ownHelp) {
    process.stdout.write(helpOf(key) + '\n');
    return 0;
  }
  const command = await COMMANDS[key]!.load();
  return command(rest);
}

/** Exits once what was written reached stdout and stderr (pipes are asynchronous). */
function exit(code: number): void {
  let pending = 2;
  const done = () => --pending === 0 && process.exit(code);
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main(process.argv.slice(2)).then(
  (code) => exit(code),
  (e: unknown) => {
    process.stderr.write(`berth: ${(e as Error).message}\n`);
    const code = (e as { exitCode?: unknown }).exitCode; // cli/output.ts CliError
    exit(e instanceof UsageError ? 2 : typeof code === 'number' ? code : 1);
  },
);
