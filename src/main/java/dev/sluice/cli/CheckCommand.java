package dev.sluice.cli;

import dev.sluice.admin.AdminServer;
import dev.sluice.config.ConfigException;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.SluiceConfig;
import dev.sluice.runtime.SluiceServer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code sluice check -c FILE}: validates a configuration file and the files it names (TLS
 * certificates and keys, CA, admin token; {@code --no-files} skips those). Prints a one-line summary
 * and exits 0 when it is valid; otherwise prints every error as {@code file:line:col: message} with a
 * hint on stderr, then a count, and exits 2 (DESIGN §7).
 *
 * <p>Writes through picocli's configured out/err writers so callers (and tests) can redirect them.
 * One instance per invocation; not thread-safe.
 */
@Command(
    name = "check",
    mixinStandardHelpOptions = true,
    description = "Validate a configuration file; exit 0 when valid, 2 with file:line:col errors.")
public final class CheckCommand implements Callable<Integer> {
  /** Exit status for an invalid configuration. */
  public static final int EXIT_INVALID = 2;

  @Spec private CommandSpec spec;

  @Option(names = {"-c", "--config"}, required = true, paramLabel = "FILE", description = "the configuration file")
  private Path config;

  @Option(names = "--no-files", description = "Do not read the files the config names (TLS certificates and keys,"
      + " CA, admin token, admin state file), e.g. on a machine that does not have them.")
  private boolean noFiles;

  @Override
  public Integer call() {
    try {
      SluiceConfig c = ConfigLoader.load(config);
      // A rule sluice run enforces at start (DESIGN §8): off loopback the admin endpoint needs a
      // token. The file still loads, so that sluice audit can report it (SL007).
      try {
        AdminServer.requireTokenOffLoopback(c.admin());
      } catch (SluiceServer.StartupException e) {
        return invalid(List.of(e.getMessage()));
      }
      // The files it names, read as run reads them: a key that is not the certificate's, or a
      // certificate that is missing, must stop a deploy here, not at the next start or reload.
      List<String> files = noFiles ? List.of() : SluiceServer.checkFiles(c);
      if (!files.isEmpty()) {
        return invalid(files);
      }
      PrintWriter out = spec.commandLine().getOut();
      out.println(config + ": OK (" + summary(c) + ")");
      out.flush();
      return 0;
    } catch (ConfigException e) {
      return invalid(e.errors());
    }
  }

  /** Prints every error and their count on stderr; the exit status for an invalid file. */
  private int invalid(List<?> errors) {
    PrintWriter err = spec.commandLine().getErr();
    errors.forEach(err::println);
    err.println(config + ": " + count(errors.size(), "error"));
    err.flush();
    return EXIT_INVALID;
  }

  /** E.g. {@code 2 listeners, 1 pool, 3 backends, 2 health profiles}. */
  static String summary(SluiceConfig c) {
    int backends = c.pools().values().stream().mapToInt(p -> p.backends().size()).sum();
    return count(c.listeners().size(), "listener") + ", " + count(c.pools().size(), "pool") + ", "
        + count(backends, "backend") + ", " + count(c.health().size(), "health profile");
  }

  private static String count(int n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }
}
