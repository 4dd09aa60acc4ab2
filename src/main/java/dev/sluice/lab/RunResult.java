package dev.sluice.lab;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one lab run measured.
 *
 * @param name the run's name
 * @param config one-line summary of the configuration
 * @param perServer messages each server accepted, in pool order
 * @param client what the senders were told
 * @param relayAttempts relay attempts made from outside (0 when the scenario makes none)
 * @param relayed relay attempts whose foreign recipient a server accepted
 * @param retries what retrying every message until accepted cost the senders, in a scenario whose
 *     senders retry (greylisting); else null
 */
public record RunResult(String name, String config, Map<String, Long> perServer, ScriptedTraffic.Outcome client,
    int relayAttempts, int relayed, GreylistTraffic.Retries retries) {

  public RunResult {
    perServer = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(perServer));
  }

  /** A run whose senders do not retry. */
  public RunResult(String name, String config, Map<String, Long> perServer, ScriptedTraffic.Outcome client,
      int relayAttempts, int relayed) {
    this(name, config, perServer, client, relayAttempts, relayed, null);
  }

  /** Messages all servers accepted. */
  public long total() {
    return perServer.values().stream().mapToLong(Long::longValue).sum();
  }

  /** A server's share of all accepted messages, in percent (0 when nothing was accepted). */
  public double share(String server) {
    long total = total();
    return total == 0 ? 0 : 100.0 * perServer.getOrDefault(server, 0L) / total;
  }

  /** The largest share any one server took, in percent. */
  public double largestShare() {
    return perServer.keySet().stream().mapToDouble(this::share).max().orElse(0);
  }
}
