package dev.sluice.cli;

import dev.sluice.audit.DefaultSource;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.StandardProtocolFamily;
import java.nio.channels.DatagramChannel;
import java.util.Optional;

/**
 * {@link DefaultSource} from this host's routing table: connects a UDP socket to the destination
 * (which sends nothing; the kernel only chooses a route and a local address) and reads the local
 * address it was given. No route, or any other failure, is "unknown". Stateless.
 */
final class KernelRoutes implements DefaultSource {
  /** Any port will do for the route lookup; discard is as harmless a name as any. */
  private static final int PORT = 9;

  @Override
  public Optional<InetAddress> towards(InetAddress destination) {
    ProtocolFamily family = destination instanceof Inet4Address ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6;
    try (DatagramChannel ch = DatagramChannel.open(family)) {
      ch.connect(new InetSocketAddress(destination, PORT));
      if (ch.getLocalAddress() instanceof InetSocketAddress local && !local.getAddress().isAnyLocalAddress()) {
        return Optional.of(local.getAddress());
      }
      return Optional.empty();
    } catch (IOException | RuntimeException e) {
      return Optional.empty(); // no route to it (network unreachable), or no such address family here
    }
  }
}
