package dev.sluice.lab;

import java.util.List;

/** The runs of one scenario, in order. */
public record ScenarioResult(Scenario scenario, List<RunResult> runs) {

  public ScenarioResult {
    runs = List.copyOf(runs);
  }

  /** The run named {@code name}. */
  public RunResult run(String name) {
    return runs.stream().filter(r -> r.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no run " + name + " in " + scenario.id()));
  }
}
