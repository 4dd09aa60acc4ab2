package dev.sluice.observe;

import dev.sluice.proxy.smtp.SmtpReply;
import dev.sluice.balance.Backend;
import dev.sluice.proxy.identity.ClientName;
import dev.sluice.health.HealthState;
import dev.sluice.health.ProbeResult;
import dev.sluice.health.ProbeTarget;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.io.OutputStream;
import java.util.Collection;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Prometheus metrics ({@code sluice_*}, DESIGN §8): counters fed by the session observer callbacks,
 * probe latencies fed by the health monitor, and gauges (backend health per profile, admin state,
 * weight, active load, protocol-log drops) read from live state at scrape time, so they follow
 * reloads without bookkeeping.
 *
 * <p>Labels: {@code listener}, {@code pool}, {@code backend}, {@code profile} (the probe key: health
 * profile, plus source address and PROXY version when set), and one small closed set per counter
 * ({@code outcome}, {@code reason}, {@code direction}, {@code stage}, {@code class}, {@code state}).
 * Free-text reasons are classified first, so label cardinality stays bounded.
 *
 * <p>Threading: callbacks run on event loops and only touch the client's lock-free counters;
 * {@link #write} runs on the admin thread.
 */
public final class Metrics implements SessionObserver {
  /** Where the scrape-time gauges read live state; suppliers, so a reload is seen at once. */
  public record Sources(Supplier<Collection<ProbeTarget>> probeTargets, Supplier<Collection<Backend>> backends,
      LongSupplier protocolLogDrops, Supplier<Map<String, Instant>> listenerCertificates) {}

  private static final java.util.regex.Pattern REPLY_CODE = java.util.regex.Pattern.compile("\\b([45])\\d\\d\\b");

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final PrometheusTextFormatWriter text = PrometheusTextFormatWriter.create();
  private final Counter sessions;
  private final Gauge active;
  private final Counter backendSessions;
  private final Counter transactions;
  private final Counter retries;
  private final Counter deferralAffinity;
  private final Counter clientTls;
  private final Counter bytes;
  private final Counter replies;
  private final Counter rejections;
  private final Counter clientNames;
  private final Counter authRefused;
  private final Histogram probeSeconds;
  private final Gauge auditFindings;
  private final ConcurrentHashMap<String, ListenerPoints> listenerPoints = new ConcurrentHashMap<>();

  public Metrics(Sources sources) {
    // No exemplars: without tracing they carry nothing, and the client library's exemplar sampler
    // hands work to its scheduler thread on observations, a cross-thread wake-up on the hot path.
    sessions = Counter.builder().name("sluice_sessions_total").help("Client sessions admitted")
        .labelNames("listener").withoutExemplars().register(registry);
    active = Gauge.builder().name("sluice_sessions_active").help("Client sessions open now")
        .labelNames("listener").withoutExemplars().register(registry);
    backendSessions = Counter.builder().name("sluice_backend_selections_total")
        .help("Sessions (tcp, connection balancing) or transactions (smtp) placed on a backend")
        .labelNames("listener", "pool", "backend").withoutExemplars().register(registry);
    transactions = Counter.builder().name("sluice_transactions_total").help("Transactions by outcome for the client")
        .labelNames("listener", "pool", "backend", "outcome").withoutExemplars().register(registry);
    retries = Counter.builder().name("sluice_retries_total").help("Backend failures that made Sluice try another")
        .labelNames("listener", "pool", "backend", "reason").withoutExemplars().register(registry);
    clientTls = Counter.builder().name("sluice_client_tls_total")
        .help("Client sessions protected by TLS, by how: starttls or implicit (with sluice_sessions_total: the share encrypted)")
        .labelNames("listener", "how").withoutExemplars().register(registry);
    deferralAffinity = Counter.builder().name("sluice_deferral_affinity_total")
        .help("Deferral affinity: senders a backend deferred (recorded), transactions sent back to it"
            + " (followed), or balanced afresh because it could not take them (unavailable)")
        .labelNames("listener", "pool", "backend", "event").withoutExemplars().register(registry);
    bytes = Counter.builder().name("sluice_bytes_total").help("Bytes relayed (smtp: message bodies; tcp: the stream)")
        .labelNames("listener", "pool", "backend", "direction").withoutExemplars().register(registry);
    replies = Counter.builder().name("sluice_replies_total").help("Replies sent to clients by stage and class")
        .labelNames("listener", "stage", "class").withoutExemplars().register(registry);
    rejections = Counter.builder().name("sluice_rejections_total").help("Clients refused before any backend saw them")
        .labelNames("listener", "reason").withoutExemplars().register(registry);
    clientNames = Counter.builder().name("sluice_client_names_total")
        .help("Client host-name lookups by result (verified, unverified, none, tempfail)")
        .labelNames("listener", "result").withoutExemplars().register(registry);
    authRefused = Counter.builder().name("sluice_auth_refused_total")
        .help("AUTH commands refused by Sluice because the client address used up limits.auth_failures")
        .labelNames("listener").withoutExemplars().register(registry);
    auditFindings = Gauge.builder().name("sluice_audit_findings")
        .help("Unacknowledged findings of sluice audit for the running configuration, by severity")
        .labelNames("severity").withoutExemplars().register(registry);
    probeSeconds = Histogram.builder().name("sluice_probe_duration_seconds").help("Health probe duration")
        .labelNames("pool", "backend", "profile", "outcome")
        .classicOnly().classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
        .withoutExemplars().register(registry);
    GaugeWithCallback.builder().name("sluice_backend_up").help("1 when the backend is UP under the profile")
        .labelNames("pool", "backend", "profile")
        .callback(cb -> sources.probeTargets().get().forEach(t -> cb.call(t.state() == HealthState.UP ? 1 : 0,
            t.backend().pool(), t.backend().name(), t.key().toString())))
        .register(registry);
    GaugeWithCallback.builder().name("sluice_backend_state").help("Health state per profile (1 for the current one)")
        .labelNames("pool", "backend", "profile", "state")
        .callback(cb -> sources.probeTargets().get().forEach(t -> {
          for (HealthState s : HealthState.values()) {
            cb.call(t.state() == s ? 1 : 0, t.backend().pool(), t.backend().name(), t.key().toString(), lower(s));
          }
        }))
        .register(registry);
    GaugeWithCallback.builder().name("sluice_backend_admin_state").help("Admin state (1 for the current one)")
        .labelNames("pool", "backend", "state")
        .callback(cb -> sources.backends().get().forEach(b -> {
          for (Backend.AdminState s : Backend.AdminState.values()) {
            cb.call(b.adminState() == s ? 1 : 0, b.pool(), b.name(), lower(s));
          }
        }))
        .register(registry);
    GaugeWithCallback.builder().name("sluice_backend_weight").help("Configured or admin-set weight")
        .labelNames("pool", "backend")
        .callback(cb -> sources.backends().get().forEach(b -> cb.call(b.weight(), b.pool(), b.name())))
        .register(registry);
    GaugeWithCallback.builder().name("sluice_backend_active").help("Sessions or transactions in flight")
        .labelNames("pool", "backend")
        .callback(cb -> sources.backends().get().forEach(b -> cb.call(b.active(), b.pool(), b.name())))
        .register(registry);
    // As the blackbox exporter's probe_ssl_earliest_cert_expiry: alert on the time left, e.g.
    // sluice_listener_certificate_expiry_timestamp_seconds - time() < 14 * 86400.
    GaugeWithCallback.builder().name("sluice_listener_certificate_expiry_timestamp_seconds")
        .help("When the listener's own TLS certificate expires (Unix time), as loaded now (renewals included)")
        .labelNames("listener")
        .callback(cb -> sources.listenerCertificates().get().forEach((listener, notAfter) ->
            cb.call(notAfter.getEpochSecond(), listener)))
        .register(registry);
    GaugeWithCallback.builder().name("sluice_backend_certificate_expiry_timestamp_seconds")
        .help("When the backend's TLS certificate expires (Unix time), as the last probe that shook hands saw it")
        .labelNames("pool", "backend", "profile")
        .callback(cb -> sources.probeTargets().get().forEach(t -> {
          ProbeResult.CertificateInfo c = t.certificate();
          if (c != null) {
            cb.call(c.notAfter().getEpochSecond(), t.backend().pool(), t.backend().name(), t.key().toString());
          }
        }))
        .register(registry);
    CounterWithCallback.builder().name("sluice_protocol_log_dropped_total")
        .help("Protocol-log events dropped because the writer fell behind")
        .callback(cb -> cb.call(sources.protocolLogDrops().getAsLong()))
        .register(registry);
  }

  /** Writes every metric in the Prometheus text format (version 0.0.4). */
  public void write(OutputStream out) throws IOException {
    text.write(out, registry.scrape());
  }

  public String contentType() {
    return PrometheusTextFormatWriter.CONTENT_TYPE;
  }

  /**
   * The name of every registered metric as a scrape shows it (a counter with its {@code _total}),
   * whether or not it has data yet; for the test that keeps docs/observability.md in step.
   */
  java.util.SortedSet<String> registeredNames() {
    java.util.SortedSet<String> names = new java.util.TreeSet<>();
    for (io.prometheus.metrics.model.snapshots.MetricSnapshot s : registry.scrape()) {
      String name = s.getMetadata().getPrometheusName();
      boolean counter = s instanceof io.prometheus.metrics.model.snapshots.CounterSnapshot;
      names.add(counter && !name.endsWith("_total") ? name + "_total" : name);
    }
    return names;
  }

  /** Records one finished probe (called by the health monitor on a probe's event loop). */
  public void probed(ProbeTarget t, ProbeResult r) {
    probeSeconds.labelValues(t.backend().pool(), t.backend().name(), t.key().toString(), lower(r.outcome()))
        .observe(r.elapsedNanos() / 1e9);
  }

  /**
   * The running configuration's unacknowledged audit findings ({@code sluice audit}), set at start
   * and at each reload, so an alert can watch for an open-relay layout that slipped into production.
   */
  public void auditFindings(long errors, long warnings, long notes) {
    auditFindings.labelValues("error").set(errors);
    auditFindings.labelValues("warning").set(warnings);
    auditFindings.labelValues("info").set(notes);
  }

  @Override
  public void connected(SessionInfo s) {
    sessions.labelValues(s.listener()).inc();
    active.labelValues(s.listener()).inc();
  }

  @Override
  public void disconnected(SessionInfo s) {
    active.labelValues(s.listener()).dec();
  }

  @Override
  public void rejected(SessionInfo s, String reason) {
    rejections.labelValues(s.listener(), reason).inc();
  }

  @Override
  public void sent(SessionInfo s, Stage stage, SmtpReply reply) {
    int replyClass = reply.code() / 100;
    if (replyClass < 1 || replyClass > 5) {
      replies.labelValues(s.listener(), lower(stage), replyClass + "xx").inc();
      return;
    }
    // Every reply passes here: a per-listener table of data points spares the label lookup. A race
    // between event loops only fills a slot twice with the same data point.
    CounterDataPoint[] table = points(s).replies;
    int i = stage.ordinal() * 5 + replyClass - 1;
    CounterDataPoint point = table[i];
    if (point == null) {
      point = replies.labelValues(s.listener(), lower(stage), replyClass + "xx");
      table[i] = point;
    }
    point.inc();
  }

  @Override
  public void backendChosen(SessionInfo s, Backend b) {
    perBackend(s, b).chosen().inc();
  }

  @Override
  public void authRefused(SessionInfo s) {
    authRefused.labelValues(s.listener()).inc();
  }

  @Override
  public void clientNamed(SessionInfo s, ClientName name) {
    clientNames.labelValues(s.listener(), lower(name.result())).inc();
  }

  @Override
  public void clientNamedAfterEnd(SessionInfo s, ClientName name) {
    clientNamed(s, name); // a lookup all the same
  }

  @Override
  public void retry(SessionInfo s, Backend b, String reason, boolean another) {
    if (another) { // a failure with nothing left to try shows in the transaction's outcome instead
      retries.labelValues(s.listener(), b.pool(), b.name(), retryReason(reason)).inc();
    }
  }

  @Override
  public void tlsStarted(SessionInfo s, boolean implicit) {
    clientTls.labelValues(s.listener(), implicit ? "implicit" : "starttls").inc();
  }

  @Override
  public void deferralAffinity(SessionInfo s, Backend b, Affinity what, String transaction, Duration ago) {
    deferralAffinity.labelValues(s.listener(), b.pool(), b.name(), lower(what)).inc();
  }

  @Override
  public void transaction(SessionInfo s, Backend b, Outcome outcome, long size) {
    if (b == null) {
      transactions.labelValues(s.listener(), "", "", lower(outcome)).inc();
      return;
    }
    BackendPoints points = perBackend(s, b);
    points.outcomes()[outcome.ordinal()].inc();
    if (size > 0) {
      points.fromClient().inc(size);
    }
  }

  /** The data points of one (listener, backend), looked up once per pair instead of per message. */
  private record BackendPoints(CounterDataPoint chosen, CounterDataPoint[] outcomes, CounterDataPoint fromClient) {}

  /**
   * Data points per listener: replies by (stage, class), and per backend object (identity: a reload
   * makes new backends, and with them new entries; the old ones stay as small garbage).
   */
  private static final class ListenerPoints {
    final CounterDataPoint[] replies = new CounterDataPoint[Stage.values().length * 5];
    final ConcurrentHashMap<Backend, BackendPoints> backends = new ConcurrentHashMap<>();
  }

  private ListenerPoints points(SessionInfo s) {
    ListenerPoints p = listenerPoints.get(s.listener());
    return p != null ? p : listenerPoints.computeIfAbsent(s.listener(), l -> new ListenerPoints());
  }

  private BackendPoints perBackend(SessionInfo s, Backend b) {
    ListenerPoints listener = points(s);
    BackendPoints known = listener.backends.get(b);
    if (known != null) {
      return known; // every message but the first: no lookup by labels, and no capturing lambda
    }
    return listener.backends.computeIfAbsent(b, k -> {
      CounterDataPoint[] outcomes = new CounterDataPoint[Outcome.values().length];
      for (Outcome o : Outcome.values()) {
        outcomes[o.ordinal()] = transactions.labelValues(s.listener(), b.pool(), b.name(), lower(o));
      }
      return new BackendPoints(backendSessions.labelValues(s.listener(), b.pool(), b.name()), outcomes,
          bytes.labelValues(s.listener(), b.pool(), b.name(), "from_client"));
    });
  }

  @Override
  public void bytes(SessionInfo s, Backend b, long fromClient, long toClient) {
    bytes.labelValues(s.listener(), b.pool(), b.name(), "from_client").inc(fromClient);
    bytes.labelValues(s.listener(), b.pool(), b.name(), "to_client").inc(toClient);
  }

  /**
   * Folds the proxy's free-text failure reasons into a few label values: {@code connect}, {@code
   * timeout}, {@code banner}, {@code identity} (XCLIENT or XFORWARD not offered or refused), {@code
   * tls} (towards the backend), {@code reply_4xx}, {@code reply_5xx}, {@code closed}, {@code other}.
   * A failure while setting up a session is classified by what failed.
   */
  static String retryReason(String why) {
    String w = why == null ? "" : why.toLowerCase(Locale.ROOT);
    if (w.startsWith("session setup: ")) {
      w = w.substring("session setup: ".length());
    }
    if (w.startsWith("auth: ")) {
      return "auth"; // passed over: the backend does not offer AUTH or the client's mechanism
    }
    if (w.contains("timeout") || w.contains("timed out") || w.startsWith("no reply")) {
      return "timeout";
    }
    if (w.contains("banner")) {
      return "banner";
    }
    if (w.startsWith("connect")) {
      return "connect";
    }
    if (w.contains("xclient") || w.contains("xforward")) {
      return "identity";
    }
    if (w.contains("starttls") || w.contains("tls handshake")) {
      return "tls";
    }
    java.util.regex.Matcher m = REPLY_CODE.matcher(w);
    if (m.find()) {
      return "reply_" + m.group(1) + "xx";
    }
    if (w.contains("closed") || w.contains("reset")) {
      return "closed";
    }
    return "other";
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }
}
