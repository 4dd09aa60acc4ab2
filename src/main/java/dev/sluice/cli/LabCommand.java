package dev.sluice.cli;

import dev.sluice.lab.Lab;
import dev.sluice.lab.LabBackends;
import dev.sluice.lab.LabChart;
import dev.sluice.lab.LabOutput;
import dev.sluice.lab.Scenario;
import dev.sluice.lab.ScenarioResult;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code sluice lab --scenario NAME}: reproduces one of the seed's pitfalls in this process. The
 * same scripted traffic (one gateway address, twenty applications; in {@code greylisting} many
 * senders whose every message is retried until accepted) goes through several Sluice configurations
 * in turn, against real SMTP servers on loopback, and the per-server counts and
 * what the senders were told are printed as a table with the lesson, as JSON, and optionally as a
 * bar chart. The servers are the embedded SMTP server, or with {@code --backend postfix} real Postfix
 * instances (throwaway, loopback only, stopped and deleted on exit, also on Ctrl-C). Exit 0 when
 * every run completed, 2 on a usage error, Postfix unavailable, or a run that could not be set up.
 */
@Command(name = "lab", mixinStandardHelpOptions = true,
    description = {"Reproduce a seed scenario under several configurations and compare the per-server outcome.",
        "Scenarios: imbalance, weights, backpressure, open-relay, greylisting, all.",
        "Backends: embedded (default) or postfix (real Postfix on loopback; needs Postfix and root,"
            + " and postgrey for greylisting)."})
public final class LabCommand implements Callable<Integer> {
  @Option(names = "--scenario", required = true, paramLabel = "NAME",
      description = "imbalance | weights | backpressure | open-relay | greylisting | all")
  String scenario;

  @Option(names = "--json", description = "Print JSON instead of tables.")
  boolean json;

  @Option(names = "--chart", paramLabel = "FILE", description = "Also draw messages per server per run (.png or .svg).")
  Path chart;

  @Option(names = "--messages", defaultValue = "300", paramLabel = "N",
      description = "Messages per run, at least 30 (default: ${DEFAULT-VALUE}).")
  int messages;

  @Option(names = "--backend", defaultValue = "embedded", paramLabel = "KIND",
      description = "embedded (default): the built-in SMTP server | postfix: real Postfix instances on"
          + " 127.0.0.1 (needs Postfix installed and root; greylisting also postgrey).")
  String backend;

  /** Why Postfix cannot run here, or empty; replaceable so that tests can play a machine without it. */
  Supplier<Optional<String>> postfixUnavailable = LabBackends::postfixUnavailable;

  @Override
  public Integer call() {
    PrintStream out = System.out;
    List<Scenario> scenarios;
    try {
      scenarios = "all".equals(scenario) ? List.of(Scenario.values()) : List.of(Scenario.byId(scenario));
    } catch (IllegalArgumentException e) {
      return usage(e.getMessage() + "; valid: "
          + Arrays.stream(Scenario.values()).map(Scenario::id).collect(Collectors.joining(", ")) + ", all");
    }
    if (messages < 30) {
      return usage("--messages must be at least 30, got " + messages);
    }
    if (chart != null && !chart.toString().matches("(?i).*\\.(png|svg)")) {
      return usage("--chart file must end in .png or .svg: " + chart);
    }
    if (!LabBackends.NAMES.contains(backend)) {
      return usage("unknown --backend '" + backend + "'; valid: " + String.join(", ", LabBackends.NAMES));
    }
    if ("postfix".equals(backend)) {
      Optional<String> unavailable = postfixUnavailable.get();
      if (unavailable.isPresent()) {
        return usage("--backend postfix: " + unavailable.get() + "; or use --backend embedded");
      }
    }
    List<ScenarioResult> results = new ArrayList<>();
    try (LabBackends backends = LabBackends.byName(backend)) {
      Lab lab = new Lab(messages, backends);
      for (Scenario s : scenarios) {
        ScenarioResult r = lab.run(s);
        results.add(r);
        if (!json) {
          out.println(LabOutput.text(r, messages));
          out.flush();
        }
      }
      if (json) {
        out.println(LabOutput.json(results));
      }
      if (chart != null) {
        new LabChart(results).write(chart);
        if (!json) {
          out.println("chart written to " + chart);
        }
      }
      return 0;
    } catch (Exception e) {
      System.err.println("sluice lab: " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
      return 2;
    }
  }

  private static int usage(String message) {
    System.err.println("sluice lab: " + message);
    return 2;
  }
}
