package dev.sluice.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.audit.Auditor;
import dev.sluice.audit.DefaultSource;
import dev.sluice.audit.Finding;
import dev.sluice.audit.Severity;
import dev.sluice.config.ConfigException;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.SluiceConfig;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code sluice audit -c FILE [--json]}: checks a configuration for the seed's pitfalls (DESIGN
 * §7, docs/audit.md). Prints each unacknowledged finding as a block (code, severity, file:line:col,
 * title, then the explanation and the fix indented) and a summary line that also counts the
 * acknowledged ones; {@code --json} prints all findings, acknowledged ones marked.
 *
 * <p>Where a listener without {@code source_address} connects from is this host's routing table's
 * answer ({@link KernelRoutes}: no packet is sent), unless {@code --no-route-lookup}; tests inject
 * their own {@link DefaultSource}.
 *
 * <p>Exit 2 with an unacknowledged error or an invalid configuration (errors printed as {@code
 * sluice check} does), 1 with an unacknowledged warning, else 0. One instance per invocation.
 */
@Command(
    name = "audit",
    mixinStandardHelpOptions = true,
    description = "Audit a configuration for SMTP load-balancing pitfalls; exit 2 errors, 1 warnings, 0 clean.")
public final class AuditCommand implements Callable<Integer> {
  private static final int WIDTH = 100;
  private static final String INDENT = "    ";

  private final DefaultSource routes;

  @Spec private CommandSpec spec;

  @Option(names = {"-c", "--config"}, required = true, paramLabel = "FILE", description = "the configuration file")
  private Path config;

  @Option(names = "--json", description = "print the findings as one JSON document")
  private boolean json;

  @Option(names = "--no-route-lookup", description = "do not ask this host's routing table where a listener "
      + "without source_address connects from (when auditing a file for another host)")
  private boolean noRouteLookup;

  /** The command as {@code sluice audit} runs it: default source addresses from this host's routes. */
  public AuditCommand() {
    this(new KernelRoutes());
  }

  /** {@code routes}: where a listener without {@code source_address} connects from. */
  public AuditCommand(DefaultSource routes) {
    this.routes = routes;
  }

  @Override
  public Integer call() {
    SluiceConfig c;
    try {
      c = ConfigLoader.load(config);
    } catch (ConfigException e) {
      PrintWriter err = spec.commandLine().getErr();
      e.errors().forEach(err::println);
      err.println(config + ": " + count(e.errors().size(), "error") + "; fix them (see sluice check) before auditing");
      err.flush();
      return CheckCommand.EXIT_INVALID;
    }
    List<Finding> findings = Auditor.audit(c, noRouteLookup ? DefaultSource.UNKNOWN : routes);
    PrintWriter out = spec.commandLine().getOut();
    out.print(json ? json(findings) : text(findings));
    out.flush();
    return Auditor.exitCode(findings);
  }

  private String text(List<Finding> findings) {
    StringBuilder sb = new StringBuilder();
    for (Finding f : findings) {
      if (f.acknowledged()) {
        continue; // counted in the summary; --json lists them
      }
      sb.append(f.code()).append(' ').append(f.severity()).append(' ')
          .append(f.location()).append(' ') // file:line:col, as sluice check prints config errors
          .append(f.title()).append(" [").append(f.pitfall()).append("]\n");
      wrap(sb, f.explanation(), INDENT);
      wrap(sb, "fix: " + f.fix(), INDENT);
      sb.append('\n');
    }
    sb.append(config).append(": ").append(summary(findings)).append('\n');
    return sb.toString();
  }

  /** {@code 1 error, 2 warnings, 0 notes; 1 acknowledged}, or {@code no findings}. */
  private static String summary(List<Finding> findings) {
    if (findings.isEmpty()) {
      return "no findings";
    }
    List<String> parts = new ArrayList<>();
    parts.add(count(Auditor.count(findings, Severity.ERROR), "error"));
    parts.add(count(Auditor.count(findings, Severity.WARNING), "warning"));
    parts.add(count(Auditor.count(findings, Severity.INFO), "note"));
    return String.join(", ", parts) + "; " + Auditor.acknowledged(findings) + " acknowledged";
  }

  /** Appends {@code text} word-wrapped to {@link #WIDTH} columns, each line starting with {@code indent}. */
  private static void wrap(StringBuilder sb, String text, String indent) {
    StringBuilder line = new StringBuilder(indent);
    for (String word : text.split(" ")) {
      if (line.length() > indent.length() && line.length() + 1 + word.length() > WIDTH) {
        sb.append(line).append('\n');
        line = new StringBuilder(indent);
      }
      if (line.length() > indent.length()) {
        line.append(' ');
      }
      line.append(word);
    }
    sb.append(line).append('\n');
  }

  private String json(List<Finding> findings) {
    ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = mapper.createObjectNode();
    root.put("file", config.toString());
    ArrayNode list = root.putArray("findings");
    for (Finding f : findings) {
      ObjectNode n = list.addObject();
      n.put("code", f.code());
      n.put("severity", f.severity().name());
      n.put("title", f.title());
      n.put("file", f.location().file());
      n.put("line", f.location().line());
      n.put("column", f.location().column());
      if (f.pitfall().number() == 0) {
        n.putNull("pitfall");
      } else {
        n.put("pitfall", f.pitfall().number());
      }
      n.put("pitfall_name", f.pitfall().label());
      n.put("explanation", f.explanation());
      n.put("fix", f.fix());
      n.put("acknowledged", f.acknowledged());
    }
    ObjectNode summary = root.putObject("summary");
    summary.put("errors", Auditor.count(findings, Severity.ERROR));
    summary.put("warnings", Auditor.count(findings, Severity.WARNING));
    summary.put("info", Auditor.count(findings, Severity.INFO));
    summary.put("acknowledged", Auditor.acknowledged(findings));
    summary.put("exit_code", Auditor.exitCode(findings));
    try {
      return mapper.writeValueAsString(root) + "\n";
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e); // a tree of plain values always serialises
    }
  }

  private static String count(long n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }
}
