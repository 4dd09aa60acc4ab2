package dev.sluice.lab;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The seed's pitfalls as lab scenarios: each sends the same {@link ScriptedTraffic} through a few
 * configurations ({@link LabRun}s) that differ in one knob, and names the lesson the outcome teaches.
 */
public enum Scenario {
  /** Pitfall 2: the gateway is one address, so source-IP persistence puts its mail on one server. */
  IMBALANCE(2, Episode.NONE,
      "Persistence, not scheduling, pins the gateway's one address to one server; smtp mode spreads every message.",
      new LabRun("a-source-ip-persistence", RunConfig.seedBalancer().withSourcePersistence()),
      new LabRun("b-round-robin-per-connection", RunConfig.seedBalancer()),
      new LabRun("c-smtp-per-transaction", RunConfig.seedBalancer().smtpMode())),
  /** Pitfall 1: an uneven weight set by accident. */
  WEIGHTS(2, Episode.NONE,
      "Weights are shares: an accidental 3:1 sends three quarters of the mail to one server.",
      new LabRun("a-accidental-3-1", RunConfig.seedBalancer().smtpMode().withWeights(3, 1)),
      new LabRun("b-intended-1-1", RunConfig.seedBalancer().smtpMode().withWeights(1, 1))),
  /** Pitfall 4: back pressure shows only at MAIL FROM, and only for outside senders. */
  BACKPRESSURE(3, Episode.BACK_PRESSURE,
      "Back pressure shows only at MAIL FROM: a banner probe never sees it, a deep probe drains new connections,"
          + " smtp mode retries every refused message.",
      new LabRun("a-banner-only-health", RunConfig.seedBalancer()),
      new LabRun("b-mail-from-health", RunConfig.seedBalancer().withDeepHealth()),
      // Still the banner-only probe: retry alone is what saves the mail here.
      new LabRun("c-smtp-mode-retry", RunConfig.seedBalancer().smtpMode())),
  /** Pitfall 5: internet mail arrives from the address the relay connector trusts. */
  OPEN_RELAY(2, Episode.RELAY_ATTEMPTS,
      "Servers trust the balancer's source address: internet mail must reach them from a different one.",
      new LabRun("a-shared-source-address",
          RunConfig.seedBalancer().withSources(Scenario.TRUSTED_SOURCE, Scenario.TRUSTED_SOURCE)),
      new LabRun("b-separate-source-addresses",
          RunConfig.seedBalancer().withSources(Scenario.INTERNET_SOURCE, Scenario.TRUSTED_SOURCE)),
      // Exchange's way: no protocol carries the client, the connection itself comes from it.
      new LabRun("c-transparent-internet",
          RunConfig.seedBalancer().withSources(null, Scenario.TRUSTED_SOURCE).withTransparentInternet())),
  /**
   * The cost of per-message balancing: every server greylists on its own, so a retry balanced afresh
   * meets a server that never saw the message and is greylisted again.
   */
  GREYLISTING(3, Episode.GREYLISTING,
      "Balanced per message, a greylisted retry meets servers that never saw it; deferral affinity sends it back"
          + " to the one that did, source-IP persistence only while the retry comes from the same address.",
      new LabRun("a-per-message-no-affinity", RunConfig.seedBalancer().smtpMode().withoutDeferralAffinity()),
      // What an ordinary balancer offers: pin the client address, so that its retry meets the same server.
      new LabRun("b-source-ip-persistence", RunConfig.seedBalancer().withSourcePersistence()),
      new LabRun("c-deferral-affinity", RunConfig.seedBalancer().smtpMode()));

  /** The relay listener's source address; the servers' relay connector trusts it. */
  static final String TRUSTED_SOURCE = "127.0.0.22";
  /** The internet listener's own source address in the separated layout. */
  static final String INTERNET_SOURCE = "127.0.0.21";

  /** What happens besides the scripted traffic. */
  enum Episode {
    NONE,
    /** The last server refuses outside senders with 452 4.3.1 for the middle third of the messages. */
    BACK_PRESSURE,
    /** Servers guard relaying; an outside host tries to relay through the internet listener. */
    RELAY_ATTEMPTS,
    /**
     * Servers greylist, each with its own memory; {@link GreylistTraffic} replaces the seed's traffic:
     * many senders, every message retried until accepted.
     */
    GREYLISTING
  }

  private final int servers;
  private final Episode episode;
  private final String lesson;
  private final List<LabRun> runs;

  Scenario(int servers, Episode episode, String lesson, LabRun... runs) {
    this.servers = servers;
    this.episode = episode;
    this.lesson = lesson;
    this.runs = List.of(runs);
  }

  /** The name on the command line: {@code imbalance}, {@code open-relay}, … */
  public String id() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  /** The scenario with command-line name {@code id}. */
  public static Scenario byId(String id) {
    return Arrays.stream(values()).filter(s -> s.id().equals(id)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("unknown scenario '" + id + "'"));
  }

  /** How many backend servers each run has. */
  public int servers() {
    return servers;
  }

  Episode episode() {
    return episode;
  }

  /** One line: what the runs show. */
  public String lesson() {
    return lesson;
  }

  public List<LabRun> runs() {
    return runs;
  }
}
