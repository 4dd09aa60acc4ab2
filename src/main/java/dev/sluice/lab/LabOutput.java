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
 * ({@code {"scenario": S, "runs": [{"name", "config", "per_server", "client", "relay_attempts",
 * "relayed"}]}}, and {@code "retries"} in runs whose senders retry; several scenarios as {@code
 * {"scenarios": [...]}}). Stateless.
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
    boolean greylisting = s.episode() == Scenario.Episode.GREYLISTING;
    String traffic = greylisting ? GreylistTraffic.description() : String.format("gateway %s sends 4 in 5 over %d long"
        + " connections, applications 127.0.0.101-120 one per connection", ScriptedTraffic.GATEWAY_ADDRESS,
        ScriptedTraffic.GATEWAY_CONNECTIONS);
    sb.append(String.format(Locale.ROOT, "%s: %d messages per run, %d %sservers; %s%n", s.id(), messages, s.servers(),
        kind, traffic));
    if (s.episode() == Scenario.Episode.BACK_PRESSURE) {
      sb.append(String.format("  server%d refuses outside senders (452 4.3.1) from message %d to %d%n", s.servers(),
          messages / 3, 2 * messages / 3));
    }
    if (greylisting) {
      sb.append(String.format("  every server greylists on its own: the first RCPT of a sender and recipient pair gets"
          + " 450 4.2.0 Greylisted, the retry passes there%n"));
    }
    List<String> servers = new ArrayList<>(result.runs().get(0).perServer().keySet());
    int nameWidth = Math.max(4, result.runs().stream().mapToInt(r -> r.name().length()).max().orElse(4));
    sb.append(String.format("  %-" + nameWidth + "s", "run"));
    servers.forEach(name -> sb.append(String.format(" %14s", name)));
    sb.append(String.format(" %9s %9s %9s %8s", "accepted", "deferred", "rejected", "relayed"));
    sb.append(greylisting ? String.format(" %12s %13s%n", "attempts/msg", "greylisted 2+") : String.format("%n"));
    for (RunResult r : result.runs()) {
      sb.append(String.format("  %-" + nameWidth + "s", r.name()));
      servers.forEach(name -> sb.append(String.format(Locale.ROOT, " %6d (%4.1f%%)", r.perServer().get(name), r.share(name))));
      sb.append(String.format(" %9d %9d %9d %8s", r.client().accepted(), r.client().deferred(), r.client().rejected(),
          r.relayAttempts() == 0 ? "-" : r.relayed() + "/" + r.relayAttempts()));
      GreylistTraffic.Retries retries = r.retries();
      sb.append(retries == null ? String.format("%n") : String.format(Locale.ROOT, " %12.2f %13d%n",
          retries.attemptsPerMessage(), retries.greylistedMoreThanOnce()));
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
      if (r.retries() != null) {
        run.put("retries", retries(r.retries()));
      }
      runs.add(run);
    }
    m.put("runs", runs);
    return m;
  }

  private static Map<String, Object> retries(GreylistTraffic.Retries r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("messages", r.messages());
    m.put("attempts", r.attempts());
    m.put("attempts_per_message", Math.round(r.attemptsPerMessage() * 100) / 100.0);
    m.put("greylisted", r.greylisted());
    m.put("greylisted_more_than_once", r.greylistedMoreThanOnce());
    m.put("most_attempts", r.mostAttempts());
    m.put("undelivered", r.undelivered());
    return m;
  }
}
