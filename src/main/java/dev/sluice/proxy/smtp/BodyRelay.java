package dev.sluice.proxy.smtp;

import dev.sluice.config.ListenerConfig.BareNewline;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams one message body from the client to the transaction's backend as it arrives: clean
 * ranges go out as zero-copy slices, framing is decided by a {@link DataScanner}, and memory stays
 * bounded whatever the message size (flow control pauses the client while the backend is slow).
 *
 * <p>At the client's end of data the client's reply is decided: the backend's own final reply when
 * the whole message reached it; {@code 550 5.6.0} after a framing violation in reject mode and
 * {@code 552 5.3.4} past {@code max_message_size} (in both cases the backend session is closed
 * before end of data, so the backend discards the partial message); {@code 451 4.4.2} when the
 * backend was lost, so a 2xx is never given for a message no backend accepted.
 *
 * <p>Threading: confined to the client's event loop.
 */
final class BodyRelay implements BackendSession.ReplyHandler {
  private static final Logger log = LoggerFactory.getLogger(BodyRelay.class);

  private final SmtpFrontend frontend;
  private final BackendSession backend;
  private final DataScanner scanner;
  private final long maxSize;
  private long forwarded;
  private boolean tooBig;
  private boolean done;

  BodyRelay(SmtpFrontend frontend, BackendSession backend, BareNewline mode, long maxSize) {
    this.frontend = frontend;
    this.backend = backend;
    this.scanner = new DataScanner(mode);
    this.maxSize = maxSize;
  }

  /**
   * Consumes readable bytes of {@code in}. Returns true when all were consumed and the body goes on,
   * false when the message ended (the bytes after its end stay in {@code in} for the next commands).
   */
  boolean feed(ByteBuf in) {
    int end = in.writerIndex();
    int start = in.readerIndex();
    int scanFrom = start;
    while (true) {
      int stop = scan(in, scanFrom, end);
      if (stop < 0) {
        forward(in, start, end - scanner.endOfChunk());
        in.readerIndex(end);
        backend.flush();
        return true;
      }
      forward(in, start, stop - scanner.withheld());
      emit(scanner.replacement());
      start = scanner.stopByteForwarded() ? stop : stop + 1;
      scanFrom = stop + 1;
      switch (scanner.event()) {
        case END_OF_DATA -> {
          forward(in, start, stop + 1);
          in.readerIndex(stop + 1);
          finish();
          return false;
        }
        case VIOLATION -> {
          log.info("rejecting message from {}: {}", frontend.context().channel().remoteAddress(),
              scanner.violation().orElse("framing violation"));
          // Close before end of data: the backend discards what it has of this message.
          backend.abort();
        }
        default -> {
          // SPLICE: replacement emitted; keep scanning.
        }
      }
    }
  }

  /**
   * Runs the scanner over {@code in[from, to)}; returns the index where it stopped, or -1 when it
   * consumed everything. Inside a line, ordinary bytes are passed over in bulk ({@link
   * SpecialByteSearch}): the state machine only needs to see NUL, CR, LF and the byte after a line
   * break.
   */
  private int scan(ByteBuf in, int from, int to) {
    int i = from;
    while (i < to) {
      if (scanner.insideLine()) {
        // Passes over ordinary bytes and, when the scanner would take them in one step, over
        // ordinary line breaks too: the state stays "inside a line" either way.
        int stop = scanner.ordinaryLineBreakPossible()
            ? SpecialByteSearch.firstStop(in, i, to)
            : SpecialByteSearch.firstAtMostCr(in, i, to);
        scanner.skipped(stop - i);
        i = stop;
        if (i == to) {
          return -1;
        }
        if (i + 2 < to && scanner.ordinaryLineBreak(in.getByte(i), in.getByte(i + 1), in.getByte(i + 2))) {
          i += 3; // CRLF and the first byte of an ordinary line: on to the next line
          continue;
        }
      }
      if (!scanner.process(in.getByte(i))) {
        return i;
      }
      i++;
    }
    return -1;
  }

  boolean backendWritable() {
    return backend.writable();
  }

  private boolean forwarding() {
    return !scanner.discarding() && !tooBig;
  }

  private void forward(ByteBuf in, int from, int to) {
    if (to > from && forwarding()) {
      count(to - from);
      if (forwarding()) {
        backend.writeBody(in.retainedSlice(from, to - from));
      }
    }
  }

  private void emit(byte[] bytes) {
    if (bytes.length > 0 && forwarding()) {
      count(bytes.length);
      if (forwarding()) {
        backend.writeBody(Unpooled.wrappedBuffer(bytes));
      }
    }
  }

  private void count(int n) {
    forwarded += n;
    // RFC 1870: the size leaves out the terminator (5 bytes at most) and the quoting dots.
    if (forwarded - scanner.lineDots() > maxSize + 5) {
      tooBig = true;
      backend.abort();
    }
  }

  private void finish() {
    if (done) {
      return;
    }
    done = true;
    frontend.setBusy();
    String host = frontend.hostname();
    if (scanner.discarding()) {
      later(SmtpReply.of(550, "5.6.0 " + host + " Error: message rejected: bare CR, bare LF or NUL in the body"
          + " (RFC 5321 section 2.3.8)"));
    } else if (tooBig) {
      later(SmtpReply.of(552, "5.3.4 " + host + " Error: message file too big"));
    } else {
      backend.awaitFinalReply(this); // the relay is its own handler: no lambda per message
    }
  }

  /** The backend's reply after the end of data (or why there is none). */
  @Override
  public void answered(SmtpReply r, BackendFailure failure) {
    if (failure != null) {
      log.warn("backend {} lost during a message from {}: {}", backend.backend(),
          frontend.context().channel().remoteAddress(), failure.getMessage());
      frontend.messageFinished(lostReply(frontend.hostname()), false, forwarded);
    } else {
      frontend.messageFinished(r, r.code() != 421 && backend.isOpen(), forwarded);
    }
  }

  static SmtpReply lostReply(String host) {
    return SmtpReply.of(451, "4.4.2 " + host + " Error: connection to the mail server was lost; try again later");
  }

  /** Ends the message on a later turn of the event loop, so the caller's input loop is not re-entered. */
  private void later(SmtpReply reply) {
    frontend.context().channel().eventLoop().execute(() -> frontend.messageFinished(reply, false, forwarded));
  }
}
