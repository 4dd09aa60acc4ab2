package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Every command and every option of {@code sluice} is documented in README.md or docs/: a new
 * option cannot ship without a word for the mail administrator.
 */
class CliDocsTest {
  @Test
  void everyCommandAndOptionIsDocumented() throws Exception {
    StringBuilder docs = new StringBuilder(Files.readString(Path.of("README.md")));
    try (Stream<Path> files = Files.list(Path.of("docs"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".md")).toList()) {
        docs.append(Files.readString(f));
      }
    }
    List<String> missing = new ArrayList<>();
    int options = check(new CommandLine(new Main()), docs.toString(), missing);
    assertThat(options).as("options checked").isGreaterThan(30);
    assertThat(missing).as("commands and options not mentioned in README.md or docs/").isEmpty();
  }

  /** Checks {@code cl}'s subcommands and their options; returns how many options were checked. */
  private static int check(CommandLine cl, String docs, List<String> missing) {
    int checked = 0;
    for (CommandLine sub : cl.getSubcommands().values()) {
      CommandSpec spec = sub.getCommandSpec();
      if (spec.userObject() instanceof CommandLine.HelpCommand) {
        continue;
      }
      String command = spec.qualifiedName();
      if (!docs.contains("`" + command)) {
        missing.add(command);
      }
      for (OptionSpec o : spec.options()) {
        if (o.usageHelp() || o.versionHelp()) {
          continue;
        }
        checked++;
        if (Stream.of(o.names()).noneMatch(n -> docs.contains(n + " ") || docs.contains(n + "`")
            || docs.contains(n + "]") || docs.contains(n + "="))) {
          missing.add(command + " " + String.join("/", o.names()));
        }
      }
      checked += check(sub, docs, missing);
    }
    return checked;
  }
}
