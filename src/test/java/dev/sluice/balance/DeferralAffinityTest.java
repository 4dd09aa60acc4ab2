package dev.sluice.balance;

import static dev.sluice.balance.Pools.weighted;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Pools.FakeClock;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HostPort;
import dev.sluice.config.Location;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.PoolConfig.Algorithm;
import dev.sluice.config.PoolConfig.DeferralAffinity;
import dev.sluice.config.PoolConfig.Persistence;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** A pool's deferral affinity: which backend deferred which sender from which client network. */
class DeferralAffinityTest {
  private static final Duration TTL = Duration.ofHours(1);
  private static final byte[] CLIENT = {(byte) 192, 0, 2, 10};

  private final FakeClock clock = new FakeClock();
  private final List<Backend> backends = weighted(1, 1);
  private final Backend a = backends.get(0);
  private final Backend b = backends.get(1);

  private PoolBalancer pool(DeferralAffinity affinity, Persistence persistence, List<Backend> backends, PoolBalancer previous) {
    return new PoolBalancer(Pools.config(Algorithm.ROUND_ROBIN, persistence, affinity, Duration.ZERO, backends),
        backends, clock, new SplittableRandom(1), previous);
  }

  private PoolBalancer pool(int maxEntries) {
    return pool(new DeferralAffinity(TTL, maxEntries), Persistence.NONE, backends, null);
  }

  private static String backendOf(DeferralTable.Deferral d) {
    return d == null ? null : d.backend().name();
  }

  @Test
  void a_deferred_sender_is_remembered_for_its_client_network_whatever_the_case_of_its_address() {
    PoolBalancer p = pool(100);
    p.deferred(CLIENT, "News@Example.COM", null, b);

    assertThat(backendOf(p.deferral(new byte[] {(byte) 192, 0, 2, (byte) 200}, "news@example.com", null)))
        .as("same /24").isEqualTo("b");
    assertThat(p.deferral(new byte[] {(byte) 192, 0, 3, 10}, "news@example.com", null)).as("another /24").isNull();
    assertThat(p.deferral(CLIENT, "other@example.com", null)).as("another sender").isNull();
  }

  @Test
  void ipv6_clients_are_grouped_by_their_64() {
    PoolBalancer p = pool(100);
    byte[] one = new byte[16];
    one[0] = 0x20;
    one[1] = 0x01;
    one[15] = 1;
    byte[] sameNetwork = one.clone();
    sameNetwork[15] = 2;
    sameNetwork[8] = 7;
    byte[] otherNetwork = one.clone();
    otherNetwork[7] = 1;
    p.deferred(one, "", "postmaster@corp.example", a); // the null sender

    assertThat(backendOf(p.deferral(sameNetwork, "", "postmaster@corp.example"))).isEqualTo("a");
    assertThat(p.deferral(otherNetwork, "", "postmaster@corp.example")).isNull();
  }

  /**
   * The null sender is every bounce a network sends: one greylisted bounce must not send all of
   * them to one backend, so its key has the first recipient too, as greylisting's triplet has.
   */
  @Test
  void the_null_sender_is_remembered_per_first_recipient() {
    PoolBalancer p = pool(100);
    assertThat(p.deferred(CLIENT, "", "Alice@Corp.Example", a)).isTrue();

    assertThat(backendOf(p.deferral(CLIENT, "", "alice@corp.example"))).as("its retry, case-folded").isEqualTo("a");
    assertThat(p.deferral(CLIENT, "", "bob@corp.example")).as("another bounce from that network").isNull();
    assertThat(p.deferral(CLIENT, "", null)).as("before the first recipient is known").isNull();
    assertThat(p.deferred(CLIENT, "", null, b)).as("no key without a recipient").isFalse();
    assertThat(p.deferralAffinityEntries()).isEqualTo(1);

    p.deferred(CLIENT, "news@example.com", "alice@corp.example", b);
    assertThat(backendOf(p.deferral(CLIENT, "news@example.com", "zoe@corp.example")))
        .as("a sender's key has no recipient").isEqualTo("b");
  }

  @Test
  void the_time_runs_from_the_first_deferral_and_another_by_the_same_backend_does_not_renew_it() {
    PoolBalancer p = pool(100);
    p.deferred(CLIENT, "s@example.com", null, a);
    clock.advance(Duration.ofMinutes(50));
    p.deferred(CLIENT, "s@example.com", null, a); // a defers everything: it must not keep the sender

    DeferralTable.Deferral d = p.deferral(CLIENT, "s@example.com", null);
    assertThat(backendOf(d)).isEqualTo("a");
    assertThat(Duration.ofNanos(clock.getAsLong() - d.atNanos())).isEqualTo(Duration.ofMinutes(50));

    clock.advance(Duration.ofMinutes(10));
    assertThat(p.deferral(CLIENT, "s@example.com", null)).as("ttl after the first deferral").isNull();

    p.deferred(CLIENT, "s@example.com", null, a);
    assertThat(backendOf(p.deferral(CLIENT, "s@example.com", null))).as("a deferral after it ended starts anew").isEqualTo("a");
  }

  @Test
  void a_backend_that_defers_the_same_sender_three_times_in_a_row_is_no_longer_followed() {
    PoolBalancer p = pool(100);
    assertThat(p.deferred(CLIENT, "s@example.com", null, a)).isTrue();
    clock.advance(Duration.ofMinutes(5));
    assertThat(p.deferred(CLIENT, "s@example.com", null, a)).as("the retry came too early, say").isTrue();
    assertThat(p.deferral(CLIENT, "s@example.com", null).times()).isEqualTo(2);
    clock.advance(Duration.ofMinutes(10));

    assertThat(p.deferred(CLIENT, "s@example.com", null, a)).as("greylisting would have passed it by now").isFalse();
    assertThat(p.deferral(CLIENT, "s@example.com", null)).isNull();

    assertThat(p.deferred(CLIENT, "s@example.com", null, b)).as("wherever it lands next starts anew").isTrue();
    assertThat(backendOf(p.deferral(CLIENT, "s@example.com", null))).isEqualTo("b");
  }

  @Test
  void a_deferral_by_another_backend_replaces_the_entry() {
    PoolBalancer p = pool(100);
    p.deferred(CLIENT, "s@example.com", null, a);
    clock.advance(Duration.ofMinutes(30));
    p.deferred(CLIENT, "s@example.com", null, b);

    DeferralTable.Deferral d = p.deferral(CLIENT, "s@example.com", null);
    assertThat(backendOf(d)).isEqualTo("b");
    assertThat(d.atNanos()).isEqualTo(clock.getAsLong());
  }

  @Test
  void the_table_is_bounded_by_max_entries() {
    PoolBalancer p = pool(50);
    for (int i = 0; i < 1000; i++) {
      p.deferred(CLIENT, "sender" + i + "@example.com", null, a);
    }

    assertThat(p.deferralAffinityEntries()).isEqualTo(50);
  }

  /**
   * The usual case, no deferral remembered, costs a MAIL nothing: no key is built (one from these
   * arguments would throw), and nothing is looked up.
   */
  @Test
  void an_empty_table_answers_without_building_a_key() {
    PoolBalancer p = pool(100);

    assertThat(p.deferral(new byte[0], null, null)).isNull();
  }

  @Test
  void off_remembers_nothing() {
    PoolBalancer p = pool(DeferralAffinity.OFF, Persistence.NONE, backends, null);
    p.deferred(CLIENT, "s@example.com", null, a);

    assertThat(p.deferralAffinityOn()).isFalse();
    assertThat(p.deferral(CLIENT, "s@example.com", null)).isNull();
    assertThat(p.deferralAffinityEntries()).isZero();
  }

  private static final Persistence PERSISTENCE = new Persistence(Persistence.Mode.SOURCE_IP, TTL, 100);
  private static final DeferralAffinity AFFINITY = new DeferralAffinity(TTL, 100);

  /** The backend {@code p} chooses for client 10.0.0.{@code n}, every backend eligible. */
  private static Backend select(PoolBalancer p, int n) {
    return p.select(new SelectionKey(new byte[] {10, 0, 0, (byte) n}), x -> Eligibility.ALWAYS, x -> false);
  }

  /** Backend {@code name} at {@code address}, {@code index} in its pool, weight and priority 1. */
  private static Backend backendAt(String name, HostPort address, int index) {
    return new Backend("pool", new BackendConfig(name, address, 1, 1, Map.of(), Location.NONE), index);
  }

  @Test
  void a_reload_keeps_what_the_pool_remembers_for_the_backends_it_keeps() {
    PoolBalancer before = pool(AFFINITY, PERSISTENCE, backends, null);
    before.deferred(CLIENT, "to-a@example.com", null, a);
    before.deferred(CLIENT, "to-b@example.com", null, b);
    assertThat(select(before, 1).name()).isEqualTo("a");

    // b's address changed: a new Backend object at its index, which the old entries do not name.
    Backend newB = backendAt("b", new HostPort("127.0.0.1", 2599), 1);
    PoolBalancer after = pool(AFFINITY, PERSISTENCE, List.of(a, newB), before);

    assertThat(backendOf(after.deferral(CLIENT, "to-a@example.com", null))).isEqualTo("a");
    assertThat(after.deferral(CLIENT, "to-b@example.com", null)).as("b is another backend now").isNull();
    for (int i = 0; i < 3; i++) {
      assertThat(select(after, 1).name()).as("persistence carried over").isEqualTo("a");
    }
  }

  /**
   * Removing or inserting a backend moves the ones after it: the reload rebuilds them at their new
   * positions, but they are the same servers, with the same memory, and what the pool remembers of
   * them stays.
   */
  @Test
  void a_reload_keeps_what_the_pool_remembers_for_a_backend_that_only_moved() {
    PoolBalancer before = pool(AFFINITY, PERSISTENCE, backends, null);
    before.deferred(CLIENT, "to-b@example.com", null, b);
    clock.advance(Duration.ofMinutes(5));
    select(before, 1); // a
    assertThat(select(before, 2).name()).isEqualTo("b");

    // a replaced by c and d, listed before b: b, unchanged, moves from position 1 to 2, a new
    // Backend object. Round robin alone would start with c.
    Backend movedB = backendAt("b", b.address(), 2);
    PoolBalancer after = pool(AFFINITY, PERSISTENCE,
        List.of(Pools.backend("c", 1, 1, 0), Pools.backend("d", 1, 1, 1), movedB), before);

    DeferralTable.Deferral d = after.deferral(CLIENT, "to-b@example.com", null);
    assertThat(d).isNotNull();
    assertThat(d.backend()).isSameAs(movedB);
    assertThat(Duration.ofNanos(clock.getAsLong() - d.atNanos())).as("still timed from the deferral")
        .isEqualTo(Duration.ofMinutes(5));
    for (int i = 0; i < 3; i++) {
      assertThat(select(after, 2)).as("persistence carried over").isSameAs(movedB);
    }
  }

  @Test
  void a_reload_that_changes_the_table_starts_it_empty() {
    PoolBalancer before = pool(100);
    before.deferred(CLIENT, "s@example.com", null, a);

    PoolBalancer after = pool(new DeferralAffinity(Duration.ofMinutes(30), 100), Persistence.NONE, backends, before);

    assertThat(after.deferral(CLIENT, "s@example.com", null)).isNull();
  }
}
