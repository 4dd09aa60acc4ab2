package dev.sluice.balance;

import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.IpLiteral;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One backend of a pool at run time: its configured identity plus the live figures the algorithms
 * read (active load, reply-latency EWMA) and the admin-adjustable weight.
 *
 * <p>Thread-safe: counters are atomic or volatile; event loops update them concurrently, selectors
 * read them without locks (a slightly stale figure only shifts one pick).
 */
public final class Backend {
  /** Weight of the newest latency sample in the EWMA (≈ the last 10 samples dominate). */
  static final double LATENCY_ALPHA = 0.2;

  private final String pool;
  private final String name;
  private final HostPort address;
  private final int priority;
  private final ClientIdentity clientIdentity;
  private final int index;
  private final long nameHash;
  private volatile int weight;
  private final AtomicInteger active = new AtomicInteger();
  private volatile long latencyEwmaNanos;
  private volatile AdminState adminState = AdminState.ENABLED;
  /** Where connections go: the address literal, or the host name as last resolved (unresolved until then). */
  private volatile InetSocketAddress socketAddress;

  /**
   * The operator's overlay on health (DESIGN §6). Only {@link #ENABLED} backends take new sessions
   * or transactions; sessions in flight always finish.
   */
  public enum AdminState {
    /** In service: health decides. */
    ENABLED,
    /** Taking nothing new while what is in flight finishes (before maintenance). */
    DRAINING,
    /** Out of service until enabled again. */
    DISABLED
  }

  /**
   * @param index position of the backend in its pool (0-based), stable for the pool's lifetime;
   *     algorithms may use it to index per-backend arrays
   */
  public Backend(String pool, BackendConfig config, int index) {
    this.pool = pool;
    this.name = config.name();
    this.address = config.address();
    this.priority = config.priority();
    this.clientIdentity = config.clientIdentity();
    this.weight = config.weight();
    this.index = index;
    this.nameHash = StableHash.hash64(name.getBytes(StandardCharsets.UTF_8), 0);
    InetAddress literal = IpLiteral.toAddress(address.host());
    this.socketAddress = literal != null
        ? new InetSocketAddress(literal, address.port())
        : InetSocketAddress.createUnresolved(address.host(), address.port());
  }

  public String pool() {
    return pool;
  }

  public String name() {
    return name;
  }

  public HostPort address() {
    return address;
  }

  /**
   * Where to connect: for an address written as an IP literal, that address; for a host name, the
   * address it resolved to last ({@link #resolvedTo}), or an unresolved address when it never did.
   * Never looks anything up, so event loops may call it.
   */
  public InetSocketAddress socketAddress() {
    return socketAddress;
  }

  /** Whether the address is written as a host name, which must be resolved to be connected to. */
  public boolean hasHostName() {
    return IpLiteral.parse(address.host()) == null;
  }

  /** Records what the host name resolves to now (name backends only). */
  public void resolvedTo(InetAddress a) {
    socketAddress = new InetSocketAddress(a, address.port());
  }

  public int priority() {
    return priority;
  }

  /** The backend's own {@code client_identity}, or null when it takes the listener's. */
  public ClientIdentity clientIdentity() {
    return clientIdentity;
  }

  /** How this backend learns the client's address from listener {@code l}. */
  public ClientIdentity clientIdentityFrom(ListenerConfig l) {
    return l.clientIdentityTowards(clientIdentity);
  }

  public int index() {
    return index;
  }

  /**
   * {@link StableHash} of the name, computed once: {@link ConsistentSourceHash} seeds each client
   * hash with it, so its result depends on names, never on order or index.
   */
  long nameHash() {
    return nameHash;
  }

  /** Current configured weight (admin API may change it at run time). */
  public int weight() {
    return weight;
  }

  public void setWeight(int weight) {
    if (weight < 0) {
      throw new IllegalArgumentException("weight must be >= 0");
    }
    this.weight = weight;
  }

  public AdminState adminState() {
    return adminState;
  }

  public void setAdminState(AdminState state) {
    this.adminState = java.util.Objects.requireNonNull(state);
  }

  /** Active sessions (tcp / connection balancing) or in-flight transactions on this backend. */
  public int active() {
    return active.get();
  }

  /** Counts one more session or transaction; pair every call with {@link #release()}. */
  public void acquire() {
    active.incrementAndGet();
  }

  public void release() {
    active.decrementAndGet();
  }

  /** Reply-latency EWMA in nanoseconds, 0 while no sample was recorded. */
  public long latencyEwmaNanos() {
    return latencyEwmaNanos;
  }

  /** Records one backend reply time (banner, or a command round trip). */
  public void recordLatency(long nanos) {
    long old = latencyEwmaNanos;
    // Racy read-modify-write on purpose: losing one sample under contention is harmless for an EWMA.
    latencyEwmaNanos = old == 0 ? nanos : (long) (old + LATENCY_ALPHA * (nanos - old));
  }

  @Override
  public String toString() {
    return pool + "/" + name + "(" + address + ")";
  }
}
