package dev.sluice.proxy.identity;

import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * Builds PROXY protocol headers (v1 text, v2 binary) carrying a real client connection, for
 * Netty's {@code HAProxyMessageEncoder}. Always {@code PROXY} with TCP4/TCP6, never {@code
 * UNKNOWN}: Sluice knows its client. An IPv4 client on an IPv6 listener (mapped address) is sent as
 * TCP4 so the backend logs the familiar form. Stateless.
 */
public final class ProxyHeaders {
  private ProxyHeaders() {}

  public static HAProxyMessage of(boolean v2, InetSocketAddress client, InetSocketAddress local) {
    InetAddress src = unmap(client.getAddress());
    InetAddress dst = unmap(local.getAddress());
    boolean v4 = src instanceof Inet4Address && dst instanceof Inet4Address;
    if (!v4 && (src instanceof Inet4Address || dst instanceof Inet4Address)) {
      // Mixed families cannot be expressed; widen the IPv4 side to its mapped IPv6 form.
      src = toV6(src);
      dst = toV6(dst);
    }
    return new HAProxyMessage(
        v2 ? HAProxyProtocolVersion.V2 : HAProxyProtocolVersion.V1,
        HAProxyCommand.PROXY,
        v4 ? HAProxyProxiedProtocol.TCP4 : HAProxyProxiedProtocol.TCP6,
        src.getHostAddress(), dst.getHostAddress(), client.getPort(), local.getPort());
  }

  private static final byte[] V1 = "PROXY ".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] V2 = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

  /**
   * Whether the first bytes a client sent are a PROXY header. From a peer outside {@code
   * accept_proxy} that is an attempt to choose its own identity, and is refused.
   */
  public static boolean looksLikeHeader(io.netty.buffer.ByteBuf in) {
    return startsWith(in, V1) || startsWith(in, V2);
  }

  private static boolean startsWith(io.netty.buffer.ByteBuf in, byte[] prefix) {
    if (in.readableBytes() < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (in.getByte(in.readerIndex() + i) != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  private static InetAddress unmap(InetAddress a) {
    byte[] b = a.getAddress();
    if (b.length == 16) {
      for (int i = 0; i < 10; i++) {
        if (b[i] != 0) {
          return a;
        }
      }
      if (b[10] == (byte) 0xFF && b[11] == (byte) 0xFF) {
        try {
          return InetAddress.getByAddress(java.util.Arrays.copyOfRange(b, 12, 16));
        } catch (java.net.UnknownHostException e) {
          return a;
        }
      }
    }
    return a;
  }

  private static InetAddress toV6(InetAddress a) {
    if (!(a instanceof Inet4Address)) {
      return a;
    }
    byte[] v4 = a.getAddress();
    byte[] v6 = new byte[16];
    v6[10] = (byte) 0xFF;
    v6[11] = (byte) 0xFF;
    System.arraycopy(v4, 0, v6, 12, 4);
    try {
      return java.net.Inet6Address.getByAddress(null, v6, -1);
    } catch (java.net.UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }
}
