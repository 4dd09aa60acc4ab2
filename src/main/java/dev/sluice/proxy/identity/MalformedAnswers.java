package dev.sluice.proxy.identity;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseDecoder;
import io.netty.handler.codec.dns.DnsOpCode;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordDecoder;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;

/**
 * Turns a response datagram that cannot be decoded, from the server a query went to and with that
 * query's ID, into a failed answer to that query, at once. Netty's resolver drops such a datagram
 * (its decoder throws, its handler logs), so the query waits out its whole timeout, and so does
 * every session of the client meanwhile; the C library gives up on it at once, or asks the next
 * server, and so does {@link DnsClientNames} with this: the answer comes as a SERVFAIL that is a
 * {@link Response}, which {@link DnsClientNames#answerOf} reads as a failure of that server.
 *
 * <p>Sits first in the pipeline of one of the resolver's UDP query channels, before Netty's
 * decoder and encoder. Outbound it sees the encoded queries and remembers their server, ID and
 * question (the question, because Netty takes only an answer to the question it asked). Inbound
 * it decodes a copy of each datagram with Netty's own decoder: one that decodes passes on
 * untouched, for Netty to decode as always. One that does not is a failure only when it comes from
 * the address and port the query went to and carries its ID (RFC 1035 §4.1.1; RFC 5452 §9.1): the
 * same bar as for a well-formed answer, so anyone off the path who could end a lookup with garbage
 * could as well end it with a forged SERVFAIL. Anything else is dropped, as Netty would.
 *
 * <p>Holds state for the queries of its channel: one, with {@code ChannelPerResolution}, which
 * goes with the channel. Used on the channel's event loop only.
 */
final class MalformedAnswers extends ChannelDuplexHandler {

  /** Netty's decoder, for a trial decode ({@code decodeResponse} is stateless and uses no context). */
  private static final TrialDecoder DECODER = new TrialDecoder();

  /** The questions of the queries written on this channel, by server and ID. */
  private final Map<Asked, DnsQuestion> asked = new HashMap<>();

  private record Asked(InetSocketAddress server, int id) {}

  /** The failed answer a malformed response stands for: a SERVFAIL, to whatever reads only the code. */
  static final class Response extends DatagramDnsResponse {
    Response(InetSocketAddress sender, InetSocketAddress recipient, int id, DnsQuestion question) {
      super(sender, recipient, id, DnsOpCode.QUERY, DnsResponseCode.SERVFAIL);
      addRecord(DnsSection.QUESTION, question);
    }
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
    if (msg instanceof DatagramPacket query && query.recipient() != null) {
      remember(query.recipient(), query.content());
    }
    ctx.write(msg, promise);
  }

  private void remember(InetSocketAddress server, ByteBuf query) {
    // A DNS message: a 12-byte header, ID first, question count third (RFC 1035 §4.1.1), then
    // the question (§4.1.2). Netty asks one question per query.
    int at = query.readerIndex();
    if (query.readableBytes() < 12 || query.getUnsignedShort(at + 4) != 1) {
      return;
    }
    try {
      DnsQuestion question = DnsRecordDecoder.DEFAULT.decodeQuestion(query.duplicate().skipBytes(12));
      asked.put(new Asked(server, query.getUnsignedShort(at)), question);
    } catch (Exception e) {
      // Not a query this handler can read back: its answer is left to Netty alone.
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
    if (!(msg instanceof DatagramPacket packet)) {
      ctx.fireChannelRead(msg);
      return;
    }
    if (DECODER.decodes(packet)) {
      ctx.fireChannelRead(packet);
      return;
    }
    try {
      ByteBuf content = packet.content();
      if (content.readableBytes() >= 2) {
        Asked key = new Asked(packet.sender(), content.getUnsignedShort(content.readerIndex()));
        DnsQuestion question = asked.remove(key);
        if (question != null) {
          ctx.fireChannelRead(new Response(packet.sender(), packet.recipient(), key.id(), question));
        }
      }
    } finally {
      packet.release();
    }
  }

  private static final class TrialDecoder extends DatagramDnsResponseDecoder {
    /** Whether Netty's decoder takes {@code packet}; reads a copy, so the packet is as it was. */
    boolean decodes(DatagramPacket packet) {
      try {
        decodeResponse(null, packet.replace(packet.content().duplicate())).release();
        return true;
      } catch (Exception e) {
        return false;
      }
    }
  }
}
