// A command of `deepmask <command>`: its one-line summary, its usage text and what it runs.
export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<void>;
}
