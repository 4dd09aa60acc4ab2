package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.haproxy.HAProxyProtocolException;
import io.netty.handler.ssl.NotSslRecordException;
import java.io.IOException;
import java.net.SocketException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Which errors a session may close on quietly, and which are faults that must be logged loudly. */
class NetErrorsTest {
  @Test
  void nativeTransportMessagesLoseTheSystemCallPrefix() {
    assertThat(NetErrors.describe(new java.io.IOException("bind(..) failed with error(-98): Address already in use")))
        .isEqualTo("Address already in use");
    assertThat(NetErrors.describe(new java.io.IOException("Address already in use"))).isEqualTo("Address already in use");
  }

  @Test
  void ioErrorsAndDecodersRefusingInputComeFromThePeerOrTheNetwork() {
    assertThat(NetErrors.fromPeerOrNetwork(new SocketException("Connection reset"))).isTrue();
    assertThat(NetErrors.fromPeerOrNetwork(new IOException("Broken pipe"))).isTrue();
    // SslHandler wraps a failed handshake in a DecoderException.
    assertThat(NetErrors.fromPeerOrNetwork(new DecoderException(new SSLHandshakeException("bad certificate")))).isTrue();
    assertThat(NetErrors.fromPeerOrNetwork(new NotSslRecordException("not an SSL/TLS record"))).isTrue();
    assertThat(NetErrors.fromPeerOrNetwork(new HAProxyProtocolException("invalid PROXY header"))).isTrue();
  }

  @Test
  void anythingElseIsAFaultInSluiceEvenWhenADecoderWrapsIt() {
    assertThat(NetErrors.fromPeerOrNetwork(new NullPointerException("UNSAFE is null"))).isFalse();
    assertThat(NetErrors.fromPeerOrNetwork(new DecoderException(new IllegalStateException("bug")))).isFalse();
    assertThat(NetErrors.fromPeerOrNetwork(new IndexOutOfBoundsException())).isFalse();
  }

  @Test
  void aFaultIsAWarningWithItsStackTraceAndAPeerErrorOnlyADebugLine() {
    Logger logger = (Logger) LoggerFactory.getLogger("net-errors-test");
    ListAppender<ILoggingEvent> seen = new ListAppender<>();
    seen.start();
    logger.addAppender(seen);
    logger.setLevel(Level.DEBUG);
    try {
      NetErrors.logClosing(logger, "mx: client /127.0.0.9:4000", new SocketException("Connection reset"));
      NetErrors.logClosing(logger, "mx: client /127.0.0.9:4001", new NullPointerException("UNSAFE is null"));
    } finally {
      logger.detachAppender(seen);
    }
    assertThat(seen.list).hasSize(2);
    assertThat(seen.list.get(0).getLevel()).isEqualTo(Level.DEBUG);
    assertThat(seen.list.get(0).getFormattedMessage()).isEqualTo("mx: client /127.0.0.9:4000 closed: java.net.SocketException: Connection reset");
    assertThat(seen.list.get(1).getLevel()).isEqualTo(Level.WARN);
    assertThat(seen.list.get(1).getFormattedMessage()).startsWith("mx: client /127.0.0.9:4001 closed by an unexpected error");
    assertThat(seen.list.get(1).getThrowableProxy().getClassName()).isEqualTo(NullPointerException.class.getName());
  }
}
