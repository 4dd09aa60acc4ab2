package dev.sluice.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code sluice} command line: one subcommand per task (DESIGN §7). Exit codes follow each
 * subcommand's contract; usage errors exit 2.
 */
@Command(
    name = "sluice",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "An SMTP-aware load balancer.",
    subcommands = {RunCommand.class, CheckCommand.class, AuditCommand.class, ProbeCommand.class, ReportCommand.class, DemoCommand.class, LabCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line and returns the exit code (tests call this instead of main). */
  public static int execute(String... args) {
    // picocli answers invalid usage with exit code 2 (ExitCode.USAGE), as our contract wants.
    CommandLine cl = new CommandLine(new Main());
    return cl.execute(args);
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
