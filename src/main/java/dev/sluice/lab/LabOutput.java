package dev.sluice.lab;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Renders lab results: one aligned table per scenario with its lesson, or JSON
 * ({@code {"scenario": S, "runs": [{"name", "config", "per_server", "client", "relayed"}]}}; several
 * scenarios as {@code {"scenarios": [...]}}). Stateless.
 */
public final class LabOutput {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private LabOutput() {}

  /** The table of one scenario: a row per run, a column per server (count and share). */
  public static String text(ScenarioResult result, int messages) {
    Scenario s = result.scenario();
    StringBuilder sb = new StringBuilder();
    // "2 servers" for the embedded server (the default), "2 Postfix servers" for real ones.
    String kind = "embedded".equals(result.backend()) ? "" : result.backend() + " ";
    sb.append(String.format(Locale.ROOT, "%s: %d messages per run, %d %sservers; gateway %s sends 4 in 5 over %d long"
            + " connections, applications 127.0.0.101-120 one per connection%n", s.id(), messages, s.servers(), kind,
        ScriptedTraffic.GATEWAY_ADDRESS, ScriptedTraffic.GATEWAY_CONNECTIONS));
    if (s.episode() == Scenario.Episode.BACK_PRESSURE) {
      sb.append(String.format("  server%d refuses outside senders (452 4.3.1) from message %d to %d%n", s.servers(),
          messages / 3, 2 * messages / 3));
    }
    List<String> servers = new ArrayList<>(result.runs().get(0).perServer().keySet());
    int nameWidth = Math.max(4, result.runs().stream().mapToInt(r -> r.name().length()).max().orElse(4));
    sb.append(String.format("  %-" + nameWidth + "s", "run"));
    servers.forEach(name -> sb.append(String.format(" %14s", name)));
    sb.append(String.format(" %9s %9s %9s %8s%n", "accepted", "deferred", "rejected", "relayed"));
    for (RunResult r : result.runs()) {
      sb.append(String.format("  %-" + nameWidth + "s", r.name()));
      servers.forEach(name -> sb.append(String.format(Locale.ROOT, " %6d (%4.1f%%)", r.perServer().get(name), r.share(name))));
      sb.append(String.format(" %9d %9d %9d %8s%n", r.client().accepted(), r.client().deferred(), r.client().rejected(),
          r.relayAttempts() == 0 ? "-" : r.relayed() + "/" + r.relayAttempts()));
    }
    for (RunResult r : result.runs()) {
      sb.append(String.format("  %-" + nameWidth + "s  %s%n", r.name(), r.config()));
    }
    return sb.append("lesson: ").append(s.lesson()).append(System.lineSeparator()).toString();
  }

  /** The JSON of one scenario, or of several under {@code "scenarios"}. */
  public static String json(List<ScenarioResult> results) {
    Object tree = results.size() == 1 ? tree(results.get(0)) : Map.of("scenarios", results.stream().map(LabOutput::tree).toList());
    try {
      return JSON.writeValueAsString(tree);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e); // maps of strings and numbers always serialise
    }
  }

  private static Map<String, Object> tree(ScenarioResult result) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("scenario", result.scenario().id());
    m.put("lesson", result.scenario().lesson());
    List<Map<String, Object>> runs = new ArrayList<>();
    for (RunResult r : result.runs()) {
      Map<String, Object> run = new LinkedHashMap<>();
      run.put("name", r.name());
      run.put("config", r.config());
      run.put("per_server", r.perServer());
      Map<String, Object> client = new LinkedHashMap<>();
      client.put("accepted", r.client().accepted());
      client.put("deferred", r.client().deferred());
      client.put("rejected", r.client().rejected());
      run.put("client", client);
      run.put("relay_attempts", r.relayAttempts());
      run.put("relayed", r.relayed());
      runs.add(run);
    }
    m.put("runs", runs);
    return m;
  }
}
