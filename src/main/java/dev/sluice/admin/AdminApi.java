package dev.sluice.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.admin.AdminServer.Response;
import dev.sluice.balance.Backend;
import dev.sluice.balance.PoolBalancer;
import dev.sluice.config.ListenerConfig;
import dev.sluice.health.ProbeResult;
import dev.sluice.health.ProbeTarget;
import dev.sluice.observe.TrafficSeries;
import dev.sluice.proxy.Listener;
import dev.sluice.runtime.SluiceServer;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The JSON API behind {@code /api} and the {@code /metrics} page: reads the server's live state and
 * applies operator actions (drain, enable, disable, weight, reload).
 *
 * <p>Threading: called on the single admin thread only.
 */
final class AdminApi {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern BACKEND_ACTION = Pattern.compile("/api/pools/([^/]+)/backends/([^/]+)/([a-z]+)");

  private final SluiceServer server;

  AdminApi(SluiceServer server) {
    this.server = server;
  }

  static String error(String message) {
    return JSON.createObjectNode().put("error", message).toString();
  }

  Response metrics() {
    ByteArrayOutputStream out = new ByteArrayOutputStream(16 * 1024);
    try {
      server.metrics().write(out);
    } catch (IOException e) {
      return Response.json(HttpResponseStatus.INTERNAL_SERVER_ERROR, error(e.toString()));
    }
    return new Response(HttpResponseStatus.OK, server.metrics().contentType(), out.toByteArray());
  }

  Response handle(HttpMethod method, String path, String body) {
    if (path.equals("/api/state")) {
      return method.equals(HttpMethod.GET) ? ok(state()) : notAllowed(method, path);
    }
    if (path.equals("/api/series")) {
      return method.equals(HttpMethod.GET) ? ok(series()) : notAllowed(method, path);
    }
    if (path.equals("/api/reload")) {
      return method.equals(HttpMethod.POST) ? reload() : notAllowed(method, path);
    }
    Matcher m = BACKEND_ACTION.matcher(path);
    if (m.matches()) {
      return backendAction(method, path, m.group(1), m.group(2), m.group(3), body);
    }
    return Response.json(HttpResponseStatus.NOT_FOUND, error("no such endpoint: " + path));
  }

  private Response backendAction(HttpMethod method, String path, String pool, String name, String action, String body) {
    Backend b = server.backend(pool, name);
    if (b == null) {
      return Response.json(HttpResponseStatus.NOT_FOUND, error("no backend '" + name + "' in pool '" + pool + "'"));
    }
    Backend.AdminState state = switch (action) {
      case "drain" -> Backend.AdminState.DRAINING;
      case "enable" -> Backend.AdminState.ENABLED;
      case "disable" -> Backend.AdminState.DISABLED;
      default -> null;
    };
    if (state != null) {
      if (!method.equals(HttpMethod.POST)) {
        return notAllowed(method, path);
      }
      server.setAdminState(pool, name, state);
      return ok(actionAnswer(b));
    }
    if (action.equals("weight")) {
      if (!method.equals(HttpMethod.PUT)) {
        return notAllowed(method, path);
      }
      Integer weight = parseWeight(body);
      if (weight == null || weight < 0) {
        return Response.json(HttpResponseStatus.BAD_REQUEST,
            error("body must be {\"weight\": N} or a plain number N, with N >= 0; got: " + body.strip()));
      }
      server.setWeight(pool, name, weight);
      return ok(actionAnswer(b));
    }
    return Response.json(HttpResponseStatus.NOT_FOUND, error("no such action '" + action
        + "' (drain, enable, disable, weight)"));
  }

  /** 200 with the changes, or 422 with the errors while the running configuration stays. */
  private Response reload() {
    SluiceServer.ReloadResult r = server.reload();
    ObjectNode body = JSON.createObjectNode();
    body.put("ok", r.ok());
    if (r.ok()) {
      ArrayNode changes = body.putArray("changes");
      r.changes().forEach(changes::add);
    } else {
      body.put("error", r.message());
    }
    return Response.json(r.ok() ? HttpResponseStatus.OK : HttpResponseStatus.UNPROCESSABLE_ENTITY, body.toString());
  }

  /** {@code {"weight": N}} or {@code N}; null when it is neither. */
  static Integer parseWeight(String body) {
    try {
      JsonNode n = JSON.readTree(body);
      if (n != null && n.isObject()) {
        n = n.get("weight");
      }
      return n != null && n.canConvertToInt() && n.isIntegralNumber() ? n.intValue() : null;
    } catch (IOException e) {
      return null;
    }
  }

  // --- state -----------------------------------------------------------------------------------

  private ObjectNode state() {
    ObjectNode root = JSON.createObjectNode();
    root.put("config", String.valueOf(server.config().file()));
    root.put("stopping", server.stopping());
    ArrayNode listeners = root.putArray("listeners");
    for (Listener l : server.listeners()) {
      ListenerConfig c = l.route().listener();
      ObjectNode n = listeners.addObject();
      n.put("name", c.name());
      n.put("listen", c.listen().toString());
      n.put("bound", l.boundAddress().getAddress().getHostAddress() + ":" + l.boundAddress().getPort());
      n.put("mode", lower(c.mode()));
      n.put("trust", lower(c.trust()));
      // How the servers learn who the client is ("transparent": they see its own address).
      n.put("clientIdentity", lower(c.clientIdentity()));
      n.put("pool", c.pool());
      n.put("health", server.config().profileFor(c).name());
      n.put("activeSessions", l.activeSessions());
      if (l.route().tls() != null) {
        n.put("certificateExpiry", l.route().tls().certificateExpiry().toString());
      }
      Double index = balanceIndex(c.name(), l.route().balancer().backends());
      if (index == null) {
        n.putNull("balanceIndex");
      } else {
        n.put("balanceIndex", index);
      }
    }
    ArrayNode pools = root.putArray("pools");
    for (Map.Entry<String, PoolBalancer> e : new TreeMap<>(server.pools()).entrySet()) {
      ObjectNode p = pools.addObject();
      p.put("name", e.getKey());
      dev.sluice.config.PoolConfig pc = server.config().pools().get(e.getKey());
      p.put("algorithm", pc == null ? "" : lower(pc.algorithm())); // null only while a reload commits
      p.put("deferralAffinityEntries", e.getValue().deferralAffinityEntries());
      ArrayNode backends = p.putArray("backends");
      e.getValue().backends().forEach(b -> backends.add(backend(b)));
    }
    root.put("protocolLogDropped", server.protocolLogDropped());
    return root;
  }

  /** The backend after an action, and why the action could not be saved to admin.state_file if it could not. */
  private ObjectNode actionAnswer(Backend b) {
    ObjectNode n = backend(b);
    String unsaved = server.stateFileError();
    if (unsaved != null) {
      n.put("stateFileError", unsaved);
    }
    return n;
  }

  private ObjectNode backend(Backend b) {
    ObjectNode n = JSON.createObjectNode();
    n.put("pool", b.pool());
    n.put("name", b.name());
    n.put("address", b.address().toString());
    if (b.hasHostName()) { // what the name resolves to now (null: it never resolved)
      java.net.InetSocketAddress at = b.socketAddress();
      n.put("resolvedAddress", at.isUnresolved() ? null : at.getAddress().getHostAddress());
    }
    n.put("weight", b.weight());
    n.put("configWeight", server.configWeight(b)); // differs from weight when set through the API
    n.put("priority", b.priority());
    if (b.clientIdentity() != null) { // its own client_identity, which overrides each listener's
      n.put("clientIdentity", lower(b.clientIdentity()));
    }
    n.put("adminState", lower(b.adminState()));
    n.put("active", b.active());
    n.put("latencyMs", b.latencyEwmaNanos() / 1e6);
    ObjectNode effective = n.putObject("effectiveWeight");
    for (Listener l : server.listeners()) {
      if (l.route().balancer().backends().contains(b)) {
        effective.put(l.name(), Math.round(l.route().balancer().effectiveWeight(b, l.route().eligibility()) * 100) / 100.0);
      }
    }
    ArrayNode health = n.putArray("health");
    for (ProbeTarget t : server.health().all()) {
      if (t.backend() != b) {
        continue;
      }
      ObjectNode h = health.addObject();
      h.put("profile", t.key().toString());
      h.put("state", t.state().name());
      ProbeResult.CertificateInfo cert = t.certificate();
      if (cert != null) {
        ObjectNode c = h.putObject("certificate");
        c.put("subject", cert.subject());
        c.put("notAfter", cert.notAfter().toString());
      }
      ProbeResult r = t.lastResult();
      if (r != null) {
        ObjectNode last = h.putObject("lastProbe");
        last.put("outcome", lower(r.outcome()));
        last.put("reason", r.reason());
        last.put("elapsedMs", r.elapsedNanos() / 1e6);
        ArrayNode transcript = last.putArray("transcript");
        r.transcript().forEach(transcript::add);
      }
    }
    ObjectNode counters = n.putObject("counters");
    long hour = 0;
    for (TrafficSeries.Key k : server.traffic().keys()) {
      if (k.pool().equals(b.pool()) && k.backend().equals(b.name())) {
        for (long v : server.traffic().perMinute(k)) {
          hour += v;
        }
      }
    }
    counters.put("messagesLastHour", hour);
    counters.put("messagesTotal", server.traffic().total(b.pool(), b.name()));
    return n;
  }

  /**
   * How evenly a listener's traffic of the last hour fell on its pool's backends: the busiest
   * backend's count over the mean (1.0 is perfect; the same measure as {@code sluice report}'s
   * max_over_mean). Backends of the best priority tier only, since the others should idle. Null
   * without traffic.
   */
  private Double balanceIndex(String listener, List<Backend> backends) {
    int tier = backends.stream().mapToInt(Backend::priority).min().orElse(0);
    long max = 0;
    long sum = 0;
    int n = 0;
    for (Backend b : backends) {
      if (b.priority() != tier) {
        continue;
      }
      long count = 0;
      for (long v : server.traffic().perMinute(new TrafficSeries.Key(listener, b.pool(), b.name()))) {
        count += v;
      }
      max = Math.max(max, count);
      sum += count;
      n++;
    }
    return sum == 0 ? null : Math.round(1000.0 * max * n / sum) / 1000.0;
  }

  /** Per-backend messages per minute over the last hour, oldest first, for the dashboard chart. */
  private ObjectNode series() {
    TrafficSeries t = server.traffic();
    ObjectNode root = JSON.createObjectNode();
    long now = t.currentMinute();
    ArrayNode minutes = root.putArray("minutes");
    for (int i = 0; i < TrafficSeries.MINUTES; i++) {
      minutes.add((now - TrafficSeries.MINUTES + 1 + i) * 60);
    }
    ArrayNode series = root.putArray("series");
    for (Backend b : server.backends()) {
      long[] sum = new long[TrafficSeries.MINUTES];
      for (TrafficSeries.Key k : t.keys()) {
        if (k.pool().equals(b.pool()) && k.backend().equals(b.name())) {
          long[] v = t.perMinute(k);
          for (int i = 0; i < sum.length; i++) {
            sum[i] += v[i];
          }
        }
      }
      ObjectNode s = series.addObject();
      s.put("pool", b.pool());
      s.put("backend", b.name());
      ArrayNode values = s.putArray("perMinute");
      for (long v : sum) {
        values.add(v);
      }
    }
    return root;
  }

  private static Response ok(JsonNode body) {
    return Response.json(HttpResponseStatus.OK, body.toString());
  }

  private static Response notAllowed(HttpMethod method, String path) {
    return Response.json(HttpResponseStatus.METHOD_NOT_ALLOWED, error(method + " not allowed on " + path));
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }
}
