package dev.sluice.balance;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The share text of SL004 and of the admin API's weight changes. */
class SharesTest {
  record W(String name, int weight) {}

  static String of(W... tier) {
    return Shares.of(List.of(tier), W::name, W::weight);
  }

  @Test
  void eachMemberWithItsShareOfTheTierOneDecimalOnlyWhereItSaysSomething() {
    assertThat(of(new W("server1", 3), new W("server2", 1))).isEqualTo("server1 75% (3/4), server2 25% (1/4)");
    assertThat(of(new W("a", 1), new W("b", 1), new W("c", 1))).isEqualTo("a 33.3% (1/3), b 33.3% (1/3), c 33.3% (1/3)");
    // Weight 0 everywhere (all set to 0 through the API): no division by zero.
    assertThat(of(new W("a", 0), new W("b", 0))).isEqualTo("a 0% (0/0), b 0% (0/0)");
    assertThat(Shares.percent(2, 3)).isEqualTo("66.7%");
  }
}
