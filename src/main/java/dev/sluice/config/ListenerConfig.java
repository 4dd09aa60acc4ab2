package dev.sluice.config;

import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A listener: one virtual service with its address, mode, pool, health profile, trust zone, source
 * address towards backends, client-identity protocol, ACLs, limits and TLS (DESIGN §3).
 *
 * <p>{@code health} is null when the listener uses the built-in default profile; {@code
 * sourceAddress}, {@code tls} and {@code backendTlsCa} are null when not set ({@code backendTlsCa}
 * null: the JDK's trusted CAs). {@code backendTlsVerify} is false only in labs. {@code implicitTls}
 * (tcp mode only): clients and servers speak TLS from the first byte, which passes through, so no
 * banner is read before the client is joined. Immutable.
 */
public record ListenerConfig(
    String name,
    HostPort listen,
    Mode mode,
    Balance balance,
    String pool,
    String health,
    Trust trust,
    InetAddress sourceAddress,
    ClientIdentity clientIdentity,
    List<Cidr> acceptProxy,
    List<Cidr> allow,
    List<Cidr> deny,
    String hostname,
    int retries,
    BareNewline bareNewline,
    Auth auth,
    BackendTls backendTls,
    Path backendTlsCa,
    boolean backendTlsVerify,
    Tls tls,
    boolean implicitTls,
    Set<String> capabilities,
    boolean receivedHeader,
    Limits limits,
    Timeouts timeouts,
    Map<String, Location> acknowledge,
    Location location) {

  public ListenerConfig {
    acceptProxy = List.copyOf(acceptProxy);
    allow = List.copyOf(allow);
    deny = List.copyOf(deny);
    acknowledge = Ordered.copyOf(acknowledge);
    capabilities = Set.copyOf(capabilities);
  }

  /** Extensions an smtp listener may offer on top of its base set ({@code capabilities}). */
  public static final Set<String> OPTIONAL_CAPABILITIES = Set.of("SMTPUTF8", "DSN");

  /** Whether the ACL lets {@code client} in: allowed by some {@code allow} and no {@code deny}. */
  public boolean admits(InetAddress client) {
    for (Cidr c : deny) {
      if (c.contains(client)) {
        return false;
      }
    }
    for (Cidr c : allow) {
      if (c.contains(client)) {
        return true;
      }
    }
    return false;
  }

  /**
   * How a backend learns the client's address from this listener: the backend's own {@code
   * client_identity} when it sets one ({@code backendOwn}, not null), else the listener's. A
   * server's port either requires a PROXY header or refuses one, and takes XCLIENT only where it is
   * configured to, so what a connection sends is the server's fact; the listener's value is the
   * default for the servers that do not say.
   */
  public ClientIdentity clientIdentityTowards(ClientIdentity backendOwn) {
    return backendOwn != null ? backendOwn : clientIdentity;
  }

  /** {@link #clientIdentityTowards(ClientIdentity)} for a configured backend. */
  public ClientIdentity clientIdentityTowards(BackendConfig b) {
    return clientIdentityTowards(b.clientIdentity());
  }

  /** {@code mode}: speak SMTP to the client, or relay bytes. */
  public enum Mode {
    SMTP,
    TCP
  }

  /** {@code balance} (smtp mode): schedule every transaction afresh, or pin the connection. */
  public enum Balance {
    TRANSACTION,
    CONNECTION
  }

  /** {@code trust}: the zone this listener serves; the audit keeps zones apart. */
  public enum Trust {
    EXTERNAL,
    INTERNAL
  }

  /** {@code client_identity}: how the real client address reaches the backend. */
  public enum ClientIdentity {
    NONE,
    PROXY_V1,
    PROXY_V2,
    XCLIENT,
    XFORWARD,
    /** Connections to backends come from the client's own address (IP_TRANSPARENT; needs routing). */
    TRANSPARENT;

    /** The PROXY protocol version sent before anything else (1 or 2), or 0 when none is. */
    public int proxyVersion() {
      return this == PROXY_V1 ? 1 : this == PROXY_V2 ? 2 : 0;
    }
  }

  /** {@code bare_newline} (smtp mode): what to do with a bare CR or LF in a message body. */
  public enum BareNewline {
    REJECT,
    NORMALIZE
  }

  /** {@code auth} (smtp mode). */
  public enum Auth {
    NONE,
    RELAY
  }

  /** {@code backend_tls} (smtp mode). */
  public enum BackendTls {
    NONE,
    STARTTLS,
    REQUIRE
  }

  /**
   * {@code tls}: certificate and key (PEM); {@code implicit} for port-465-style listeners; {@code
   * required}: STARTTLS before any mail transaction or AUTH; where the two paths are written, for
   * errors about the files.
   */
  public record Tls(Path cert, Path key, boolean implicit, boolean required, Location certAt, Location keyAt) {}

  /**
   * {@code limits}. Zero means "no limit" for the counts; {@code connectionRate} and {@code
   * authFailures} (failed logins per client, {@code auth: relay}) are null when unset.
   */
  public record Limits(
      int maxConnections,
      int maxConnectionsPerClient,
      Rate connectionRate,
      long maxMessageSize,
      int maxRecipients,
      Duration idleTimeout,
      Rate authFailures) {
    public static final Limits DEFAULT =
        new Limits(5000, 100, null, 50L * 1024 * 1024, 1000, Duration.ofMinutes(5), null);
  }

  /**
   * {@code timeouts}: how long Sluice, as the backends' client, waits for a connection, the banner,
   * a command's reply and the reply after end of data (RFC 5321 §4.5.3.2 gives client minimums of
   * 5, 2–5 and 10 minutes; a balancer moves on sooner before DATA, where retrying elsewhere is safe).
   */
  public record Timeouts(Duration connect, Duration banner, Duration command, Duration endOfData) {
    public static final Timeouts DEFAULT =
        new Timeouts(Duration.ofSeconds(5), Duration.ofSeconds(30), Duration.ofMinutes(2), Duration.ofMinutes(10));
  }

  /** A rate such as {@code 60/m}: {@code count} events per {@code per}. */
  public record Rate(int count, Duration per) {}
}
