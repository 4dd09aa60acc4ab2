package dev.sluice.audit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.Cidr;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class InternetReachTest {
  static List<Cidr> cidrs(String... texts) {
    return Arrays.stream(texts).map(Cidr::parse).toList();
  }

  static boolean open(List<Cidr> allow, List<Cidr> deny) {
    return InternetReach.openToTheInternet(allow, deny);
  }

  @Test
  void theWholeInternetHoweverItIsWritten() {
    assertThat(open(cidrs("0.0.0.0/0"), List.of())).isTrue();
    assertThat(open(cidrs("::/0"), List.of())).isTrue();
    assertThat(open(cidrs("0.0.0.0/1", "128.0.0.0/1"), List.of())).isTrue();
    assertThat(open(cidrs("2000::/4", "3000::/4"), List.of())).isTrue();
    assertThat(open(cidrs("52.0.0.0/8"), List.of())).as("a public /8").isTrue();
    // Taking back a few ranges leaves it open.
    assertThat(open(cidrs("0.0.0.0/0"), cidrs("203.0.113.0/24", "198.51.100.0/24"))).isTrue();
  }

  @Test
  void privateNetworksAndOnesOwnHostsAreNotTheInternet() {
    assertThat(open(List.of(), List.of())).isFalse();
    assertThat(open(cidrs("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8"), List.of()))
        .isFalse();
    assertThat(open(cidrs("fc00::/7", "fe80::/10", "::1/128"), List.of())).isFalse();
    assertThat(open(cidrs("198.51.100.0/24", "203.0.113.7", "2001:db8::/32"), List.of())).as("own gateways").isFalse();
    assertThat(open(cidrs("52.0.0.0/9"), List.of())).as("half a /8: under 1/256 of the public space").isFalse();
    // Everything, less the public space: what remains is private.
    assertThat(open(cidrs("0.0.0.0/0", "::/0"), cidrs("0.0.0.0/1", "128.0.0.0/1", "2000::/3"))).isFalse();
  }
}
