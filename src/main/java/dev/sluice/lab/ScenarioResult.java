package dev.sluice.lab;

import java.util.List;

/**
 * The runs of one scenario, in order.
 *
 * @param backend what the servers were ({@link LabBackends#description()}: {@code embedded}, {@code
 *     Postfix})
 */
public record ScenarioResult(Scenario scenario, List<RunResult> runs, String backend) {

  public ScenarioResult {
    runs = List.copyOf(runs);
  }

  /** Runs against the embedded server. */
  public ScenarioResult(Scenario scenario, List<RunResult> runs) {
    this(scenario, runs, "embedded");
  }

  /** The run named {@code name}. */
  public RunResult run(String name) {
    return runs.stream().filter(r -> r.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no run " + name + " in " + scenario.id()));
  }
}
