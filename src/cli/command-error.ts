/** Raised by CLI commands; carries the registry code so `--json` output can repeat it. */
export class AdminCommandError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** The process exit status; 1 unless a command documents another. */
    readonly exitCode: number = 1,
  ) {
    super(message);
  }
}
