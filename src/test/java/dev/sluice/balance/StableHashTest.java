package dev.sluice.balance;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * Pins {@link StableHash}: its values are a contract between Sluice nodes (and versions), so an
 * accidental change must fail here rather than silently re-map every source_hash client.
 */
class StableHashTest {
  @Test
  void known_values_never_change() {
    byte[] ipv6Loopback = new byte[16];
    ipv6Loopback[15] = 1;
    assertThat(StableHash.hash64(ipv6Loopback, 0)).isEqualTo(PINNED_IPV6_LOOPBACK);
    assertThat(StableHash.hash64(new byte[] {127, 0, 0, 1}, 0)).isEqualTo(PINNED_LOOPBACK);
    assertThat(StableHash.hash64("mx1.example.net".getBytes(StandardCharsets.UTF_8), 42))
        .isEqualTo(PINNED_NAME);
  }

  @Test
  void seed_and_every_byte_matter() {
    byte[] address = {10, 0, 0, 1};
    long base = StableHash.hash64(address, 7);

    assertThat(StableHash.hash64(address, 8)).isNotEqualTo(base);
    for (int i = 0; i < address.length; i++) {
      byte[] changed = address.clone();
      changed[i] ^= 1;
      assertThat(StableHash.hash64(changed, 7)).as("byte %d", i).isNotEqualTo(base);
    }
    // Trailing zero bytes change the length, hence the hash (0.0.0.0 vs ::).
    assertThat(StableHash.hash64(new byte[4], 0)).isNotEqualTo(StableHash.hash64(new byte[16], 0));
  }

  @Test
  void unit_interval_excludes_both_ends() {
    assertThat(StableHash.unitInterval(0)).isGreaterThan(0);
    assertThat(StableHash.unitInterval(-1L)).isLessThan(1);
  }

  private static final long PINNED_IPV6_LOOPBACK = 0x7f71815463660191L;
  private static final long PINNED_LOOPBACK = 0x47606c065bb12c09L;
  private static final long PINNED_NAME = 0x3f77bea6977440fbL;
}
