package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

/** The routing-table lookup behind {@code sluice audit}: a UDP connect, no packet sent. */
class KernelRoutesTest {
  @Test
  void towardsALoopbackAddressTheSourceIsTheLoopbackAddress() throws Exception {
    assertThat(new KernelRoutes().towards(InetAddress.getByName("127.0.0.5")))
        .contains(InetAddress.getByName("127.0.0.1"));
  }

}
